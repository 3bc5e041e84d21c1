/* frame.c - a frame's fields and views (see frame.h). */
#include "frame.h"

#include <stdio.h>
#include <string.h>

static const char *const view_names[FRAME_VIEWS] = {"function", "line", "raw"};

int frame_view_parse(const char *s)
{
	for (int v = 0; v < FRAME_VIEWS; v++)
		if (!strcmp(s, view_names[v]))
			return v;
	return -1;
}

const char *frame_view_name(enum frame_view v)
{
	return (unsigned)v < FRAME_VIEWS ? view_names[v] : "?";
}

bool frame_is_plain(const char *frame)
{
	return !strchr(frame, FRAME_SEP);
}

unsigned frame_kinds_parse(const char *s)
{
	static const struct { const char *name; enum frame_kind kind; } kinds[] = {
		{"kernel", FRAME_KERNEL}, {"native", FRAME_NATIVE}, {"python", FRAME_PYTHON},
	};
	unsigned set = 0;
	while (*s) {
		size_t len = strcspn(s, ","), k;
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (strlen(kinds[k].name) == len && !strncmp(s, kinds[k].name, len))
				break;
		if (k == sizeof(kinds) / sizeof(kinds[0]))
			return 0;
		set |= kinds[k].kind;
		s += len + (s[len] == ',');
	}
	return set;
}

enum frame_kind frame_user_kind(const char *frame)
{
	struct frame_parts p;
	if (frame_is_plain(frame))
		return FRAME_NATIVE;
	frame_split(frame, &p);
	return p.kind_len == 6 && !memcmp(p.kind, "python", 6) ? FRAME_PYTHON : FRAME_NATIVE;
}

void frame_split(const char *frame, struct frame_parts *out)
{
	const char *field[6] = {frame, "", "", "", "", ""};
	size_t len[6] = {0};
	for (int i = 0;; i++) {
		const char *sep = i < 5 ? strchr(field[i], FRAME_SEP) : NULL; /* the last runs to the end */
		len[i] = sep ? (size_t)(sep - field[i]) : strlen(field[i]);
		if (!sep)
			break;
		field[i + 1] = sep + 1;
	}
	*out = (struct frame_parts){field[0], field[1], field[2], field[3], field[4], field[5],
				    len[0], len[1], len[2], len[3], len[4], len[5]};
}

size_t frame_format(const char *frame, enum frame_view v, char *buf, size_t cap)
{
	struct frame_parts p;
	frame_split(frame, &p);
	if (v == FRAME_RAW && p.raw_len)
		return (size_t)snprintf(buf, cap, "%.*s", (int)p.raw_len, p.raw);
	if (v == FRAME_LINE && p.loc_len) {
		/* The file's base name: a flame graph box has room for "msort.c:297", not for the
		 * build directory (the whole path stays in the frame for has_function). */
		const char *base = p.loc;
		for (const char *c = p.loc; c < p.loc + p.loc_len; c++)
			if (*c == '/')
				base = c + 1;
		return (size_t)snprintf(buf, cap, "%.*s %.*s", (int)p.name_len, p.name, (int)(p.loc + p.loc_len - base), base);
	}
	return (size_t)snprintf(buf, cap, "%.*s", (int)p.name_len, p.name);
}
