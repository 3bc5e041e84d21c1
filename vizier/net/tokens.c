/* tokens.c - token files, and the grants of a peer's token (see tokens.h). */
#include "tokens.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define TOKENS_FILE_MAX (1 << 20) /* bytes: a token file is a few lines */

struct token {
	unsigned grants;
	size_t len;
	char text[TOKEN_MAX + 1];
};

struct tokens {
	char *path;
	struct stat st; /* of the file as read: a change of any of these reloads it */
	struct token *v;
	int n;
};

static const struct {
	const char *name;
	unsigned grants;
} roles[] = {
	{"agent", GRANT_REGISTER},
	{"read", GRANT_READ},
	{"admin", GRANT_READ | GRANT_ADMIN},
};

const char *tokens_role_name(unsigned grants)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (roles[i].grants == grants)
			return roles[i].name;
	return grants == GRANT_ALL ? "any" : "no";
}

static int role_of(const char *name, size_t len, unsigned *grants)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strlen(roles[i].name) == len && !memcmp(roles[i].name, name, len)) {
			*grants = roles[i].grants;
			return 0;
		}
	return -1;
}

/* The words of one line: at most 3 are told apart (a third is an error). */
static int split_words(const char *line, const char *w[3], size_t wl[3])
{
	int n = 0;
	for (const char *p = line; *p && n < 3;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p)
			break;
		w[n] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		wl[n] = (size_t)(p - w[n]);
		n++;
	}
	return n;
}

/* The whole file (a pipe too: its size is not known before), NUL-terminated, malloc'd. */
static char *read_file(const char *path, struct stat *st, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0;
	if (!f || fstat(fileno(f), st) < 0) {
		snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!(buf = malloc(TOKENS_FILE_MAX + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, TOKENS_FILE_MAX + 1, f);
	if (n > TOKENS_FILE_MAX) {
		snprintf(err, errlen, "the token file %s is over %d bytes", path, TOKENS_FILE_MAX);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	if (f)
		fclose(f);
	return buf;
}

static int check_length(const char *path, int lineno, size_t len, char *err, size_t errlen)
{
	if (len >= TOKEN_MIN && len <= TOKEN_MAX)
		return 0;
	snprintf(err, errlen, "%s:%d: a token must be %d to %d characters (this one has %zu)", path, lineno, TOKEN_MIN,
		 TOKEN_MAX, len);
	return -1;
}

/* Parses text into *out (malloc'd): every `ROLE TOKEN` line. 0, or -1 with err set. */
static int parse(const char *path, char *text, struct token **out, int *nout, char *err, size_t errlen)
{
	struct token *v = NULL;
	int n = 0, lineno = 0, rc = -1;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		const char *w[3];
		size_t wl[3];
		int nw = split_words(line, w, wl);
		if (nw == 0 || w[0][0] == '#')
			continue;
		unsigned grants;
		if (nw != 2) {
			snprintf(err, errlen, "%s:%d: expected ROLE TOKEN (roles: agent, read, admin)", path, lineno);
			goto out;
		}
		if (role_of(w[0], wl[0], &grants) < 0) {
			snprintf(err, errlen, "%s:%d: unknown role '%.*s' (roles: agent, read, admin)", path, lineno,
				 (int)(wl[0] > 32 ? 32 : wl[0]), w[0]);
			goto out;
		}
		if (check_length(path, lineno, wl[1], err, errlen) < 0)
			goto out;
		struct token *nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!nv) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		v = nv;
		v[n].grants = grants;
		v[n].len = wl[1];
		memcpy(v[n].text, w[1], wl[1]);
		v[n].text[wl[1]] = '\0';
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "the token file %s holds no token", path);
		goto out;
	}
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	free(v);
	return rc;
}

static int load_into(struct tokens *t, char *err, size_t errlen)
{
	struct stat st;
	struct token *v;
	int n;
	char *text = read_file(t->path, &st, err, errlen);
	if (!text)
		return -1;
	int rc = parse(t->path, text, &v, &n, err, errlen);
	free(text);
	if (rc < 0)
		return -1;
	free(t->v);
	t->v = v;
	t->n = n;
	t->st = st;
	return 0;
}

struct tokens *tokens_load(const char *path, char *err, size_t errlen)
{
	struct tokens *t = calloc(1, sizeof(*t));
	if (!t || !(t->path = strdup(path))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (load_into(t, err, errlen) < 0) {
		tokens_free(t);
		return NULL;
	}
	if (t->st.st_mode & S_IROTH)
		fprintf(stderr, "wispd: warning: the token file %s is readable by every user (chmod 600 it)\n", path);
	return t;
}

int tokens_reload(struct tokens *t, char *err, size_t errlen)
{
	struct stat st;
	if (stat(t->path, &st) < 0) {
		snprintf(err, errlen, "cannot read the token file %s: %s", t->path, strerror(errno));
		return -1;
	}
	if (st.st_ino == t->st.st_ino && st.st_dev == t->st.st_dev && st.st_size == t->st.st_size &&
	    st.st_mtim.tv_sec == t->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == t->st.st_mtim.tv_nsec)
		return 0;
	return load_into(t, err, errlen) < 0 ? -1 : 1;
}

void tokens_free(struct tokens *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->path);
	free(t);
}

int tokens_count(const struct tokens *t)
{
	return t ? t->n : 0;
}

/* Equal, in time that depends on the lengths alone. */
static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	for (size_t i = 0; i < alen && i < blen; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

unsigned tokens_grants(const struct tokens *t, const char *token)
{
	if (!t)
		return GRANT_ALL;
	unsigned grants = 0;
	size_t len = token ? strlen(token) : 0;
	for (int i = 0; len && i < t->n; i++) /* every token is compared: no early exit */
		if (same(t->v[i].text, t->v[i].len, token, len))
			grants |= t->v[i].grants;
	return grants;
}

unsigned tokens_grants_of_request(const struct tokens *t, struct lws *wsi)
{
	char buf[TOKEN_MAX + 32];
	const char *token = NULL;
	if (!t)
		return GRANT_ALL;
	int n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n > 7 && !strncasecmp(buf, "Bearer ", 7)) {
		token = buf + 7;
		while (*token == ' ')
			token++;
	} else if (n <= 0) {
		token = lws_get_urlarg_by_name(wsi, "access_token=", buf, (int)sizeof(buf));
	}
	return token ? tokens_grants(t, token) : 0;
}

/* The single word text holds and nothing else (a Kubernetes Secret's key: the token alone), or
 * NULL; *len its length. */
static const char *lone_word(const char *text, size_t *len)
{
	const char *p = text + strspn(text, " \t\r\n"), *end = p + strcspn(p, " \t\r\n");
	*len = (size_t)(end - p);
	return *len && !end[strspn(end, " \t\r\n")] ? p : NULL;
}

int tokens_pick(const char *path, unsigned want, char *out, size_t outlen, char *err, size_t errlen)
{
	struct stat st;
	struct token *v = NULL;
	int n = 0, rc = -1;
	size_t len = 0;
	const char *pick = NULL;
	char *text = read_file(path, &st, err, errlen);
	if (!text)
		goto out;
	if ((pick = lone_word(text, &len))) {
		if (check_length(path, 1, len, err, errlen) < 0)
			goto out;
	} else if (parse(path, text, &v, &n, err, errlen) < 0) {
		goto out;
	} else {
		int best = -1;
		for (int i = 0; i < n; i++)
			if ((v[i].grants & want) == want &&
			    (best < 0 || __builtin_popcount(v[i].grants) > __builtin_popcount(v[best].grants)))
				best = i;
		if (best < 0) {
			snprintf(err, errlen, "the token file %s has no %s token", path,
				 want & GRANT_REGISTER ? "agent" : want & GRANT_ADMIN ? "admin" : "read or admin");
			goto out;
		}
		pick = v[best].text;
		len = v[best].len;
	}
	if (len >= outlen) {
		snprintf(err, errlen, "a token in %s is too long", path);
		goto out;
	}
	memcpy(out, pick, len);
	out[len] = '\0';
	rc = 0;
out:
	free(text);
	free(v);
	return rc;
}
