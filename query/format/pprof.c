/* pprof.c - a result table as a pprof profile (profile.proto, gzipped), for go tool pprof,
 * Pyroscope, Parca, speedscope and Grafana.
 *
 * The first table with a stack column becomes the profile. Its stack column is a stack (frames
 * with their lines and raw names, kernel frames apart), else a folded string ("root;...;leaf",
 * kernel frames suffixed _[k]); its count column is chosen as -o folded chooses it. Each row is
 * a sample with two values, samples/count and cpu/nanoseconds (the count times the sampling
 * period of the row's node); every other string, integer or time column is a label on it. A
 * table with an integer blocked_ns column (offcpu_samples grouped by stack) is an off-CPU
 * profile instead: periods/count and off_cpu/nanoseconds (the blocked time itself).
 *
 * One location per distinct frame (one line each: an inlined function is a frame of its own in
 * Wisp's stacks), one function per distinct (name, raw name, file), one mapping per module the
 * frames name (path and build id; core/frame.h) and one for kernel frames. The mapping whose
 * code starts the most samples (the executable, for a profile of one program) comes first,
 * where pprof reads "File:". The encoder owns nothing past render_pprof: strings are interned in the query
 * and every protobuf-c array is freed on the one way out. */
#include "render.h"
#include "render_internal.h"
#include "core/frame.h"
#include "core/hashmap.h"
#include "core/intern.h"
#include "core/qctx.h"
#include "core/table.h"
#include "core/clock.h"
#include "profile.pb-c.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Mapping Mapping;

struct loc_info {
	uint64_t function_id;
	int64_t line;
	long mapping;             /* index into maps, or -1 */
};

struct map_info {
	int64_t file, build_id;   /* string indexes */
	bool has_lines;
	int64_t roots;            /* samples whose outermost frame is in it */
};

struct fn_info {
	int64_t name, raw, file; /* string indexes */
};

struct pprof {
	struct intern *it;
	struct hashmap strs;      /* interned string -> index into the string table */
	struct hashmap locs;      /* interned location key -> index (location id - 1) */
	struct hashmap by_frame[2]; /* a stack's frame pointer (user, kernel) -> location id: a
				     * frame met again costs one identity lookup */
	struct hashmap funcs;     /* interned function key -> index (function id - 1) */
	struct hashmap maps;      /* interned module key (kernel: "") -> index */
	struct map_info *mi;      /* per mapping */
	size_t mi_cap;
	struct loc_info *li;      /* per location */
	size_t li_cap;
	struct fn_info *fi;       /* per function */
	size_t fi_cap;
	uint64_t *ids;            /* every sample's location ids, one run per sample */
	size_t nids, ids_cap;
	char key[8192];           /* scratch for keys */
};

/* Grows *p (elements of size sz) to hold at least need; -1 on out-of-memory. */
static int grow(void *p, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *np = realloc(*(void **)p, n * sz);
	if (!np)
		return -1;
	*(void **)p = np;
	*cap = n;
	return 0;
}

/* The string table index of s[0..len); -1 on out-of-memory. */
static int64_t str_index(struct pprof *b, const char *s, size_t len)
{
	const char *k = intern_strn(b->it, s, len);
	return k ? hashmap_index(&b->strs, k) : -1;
}

static int64_t str_index_c(struct pprof *b, const char *s)
{
	return str_index(b, s, strlen(s));
}

/* The function id of frame f (a frame string, frame.h); 0 on out-of-memory. */
static uint64_t function_of(struct pprof *b, const struct frame_parts *p, const char *file, size_t file_len)
{
	int n = snprintf(b->key, sizeof(b->key), "%.*s%c%.*s%c%.*s", (int)p->name_len, p->name, FRAME_SEP,
			 (int)p->raw_len, p->raw, FRAME_SEP, (int)file_len, file);
	const char *k = intern_strn(b->it, b->key, n < (int)sizeof(b->key) ? (size_t)n : sizeof(b->key) - 1);
	size_t before = b->funcs.count;
	long i = k ? hashmap_index(&b->funcs, k) : -1;
	if (i < 0)
		return 0;
	if (b->funcs.count > before) { /* a new function */
		if (grow(&b->fi, &b->fi_cap, (size_t)i + 1, sizeof(*b->fi)) < 0)
			return 0;
		int64_t name = str_index(b, p->name, p->name_len), file_i = str_index(b, file, file_len),
			raw = p->raw_len ? str_index(b, p->raw, p->raw_len) : name;
		if (name < 0 || raw < 0 || file_i < 0)
			return 0;
		b->fi[i] = (struct fn_info){name, raw, file_i};
	}
	return (uint64_t)i + 1;
}

/* The mapping index of a kernel frame, or of a user frame's module; -1 when it names none, -2
 * on out-of-memory. */
static long mapping_of(struct pprof *b, const struct frame_parts *p, bool kernel)
{
	if (!kernel && !p->module_len)
		return -1;
	int n = kernel ? 0
		       : snprintf(b->key, sizeof(b->key), "%.*s%c%.*s", (int)p->module_len, p->module, FRAME_SEP,
				  (int)p->build_id_len, p->build_id);
	const char *k = intern_strn(b->it, b->key, n < (int)sizeof(b->key) ? (size_t)n : sizeof(b->key) - 1);
	size_t before = b->maps.count;
	long i = k ? hashmap_index(&b->maps, k) : -1;
	if (i < 0)
		return -2;
	if (b->maps.count > before) {
		if (grow(&b->mi, &b->mi_cap, (size_t)i + 1, sizeof(*b->mi)) < 0)
			return -2;
		int64_t file = kernel ? str_index_c(b, "[kernel.kallsyms]") : str_index(b, p->module, p->module_len),
			id = kernel ? 0 : str_index(b, p->build_id, p->build_id_len);
		if (file < 0 || id < 0)
			return -2;
		b->mi[i] = (struct map_info){file, id, false, 0};
	}
	b->mi[i].has_lines |= p->loc_len > 0;
	return i;
}

/* The location id of frame (len bytes) as a kernel or user frame; 0 on out-of-memory. */
static uint64_t location_of(struct pprof *b, const char *frame, size_t len, bool kernel)
{
	if (len + 2 > sizeof(b->key))
		len = sizeof(b->key) - 2;
	b->key[0] = kernel ? 'k' : 'u';
	memcpy(b->key + 1, frame, len);
	b->key[len + 1] = '\0';
	const char *k = intern_strn(b->it, b->key, len + 1);
	size_t before = b->locs.count;
	long i = k ? hashmap_index(&b->locs, k) : -1;
	if (i < 0)
		return 0;
	if (b->locs.count > before) {
		if (grow(&b->li, &b->li_cap, (size_t)i + 1, sizeof(*b->li)) < 0)
			return 0;
		struct frame_parts p;
		frame_split(k + 1, &p);
		/* FILE:LINE: the line after the last colon. */
		const char *colon = p.loc_len ? memrchr(p.loc, ':', p.loc_len) : NULL;
		size_t file_len = colon ? (size_t)(colon - p.loc) : p.loc_len;
		int64_t line = colon ? strtoll(colon + 1, NULL, 10) : 0;
		uint64_t fid = function_of(b, &p, p.loc, file_len);
		long map = mapping_of(b, &p, kernel);
		if (!fid || map < -1)
			return 0;
		b->li[i] = (struct loc_info){fid, line, map};
	}
	return (uint64_t)i + 1;
}

static int push_id(struct pprof *b, uint64_t id)
{
	if (!id || grow(&b->ids, &b->ids_cap, b->nids + 1, sizeof(*b->ids)) < 0)
		return -1;
	b->ids[b->nids++] = id;
	return 0;
}

/* Appends the location ids of row r's stack (leaf first); -1 on out-of-memory. */
static int stack_ids(struct pprof *b, const struct column *c, size_t r)
{
	if (c->type == VT_STACK) {
		const struct stack *st = c->v.k[r];
		for (int f = 0; st && f < st->nframes; f++) {
			struct hashmap *m = &b->by_frame[f < st->nkernel];
			uint64_t *known = hashmap_get(m, st->frames[f]), id = known ? *known : 0;
			if (!id && (!(id = location_of(b, st->frames[f], strlen(st->frames[f]), f < st->nkernel)) ||
				    hashmap_put(m, st->frames[f], id) < 0))
				return -1;
			if (push_id(b, id) < 0)
				return -1;
		}
		return 0;
	}
	const char *s = c->v.s[r], *end = s + strlen(s);
	while (end > s) { /* from the leaf (the last segment) to the root */
		const char *start = end;
		while (start > s && start[-1] != ';')
			start--;
		size_t len = (size_t)(end - start);
		bool kernel = len > 4 && !memcmp(end - 4, "_[k]", 4);
		if (len && push_id(b, location_of(b, start, kernel ? len - 4 : len, kernel)) < 0)
			return -1;
		end = start > s ? start - 1 : s;
	}
	return 0;
}

static int64_t period_of(const struct pprof_opts *o, const char *node)
{
	int hz = o->default_hz > 0 ? o->default_hz : 99;
	for (int i = 0; node && i < o->nrates; i++)
		if (o->rates[i].hz > 0 && !strcmp(o->rates[i].node, node))
			hz = o->rates[i].hz;
	return 1000000000LL / hz;
}

/* Gzips n bytes to f; -1 on a write or zlib error. */
static int write_gzip(FILE *f, const uint8_t *data, size_t n)
{
	z_stream z = {0};
	uint8_t out[65536];
	int rc = 0, zr;
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)n;
	assert(n <= UINT32_MAX);
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = deflate(&z, Z_FINISH);
		if (zr == Z_STREAM_ERROR || fwrite(out, 1, sizeof(out) - z.avail_out, f) != sizeof(out) - z.avail_out) {
			rc = -1;
			break;
		}
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	return rc;
}

/* The stack column of t (a stack, else a string named stack/folded/frames) and its count
 * column, as folded output picks them; -1 when t has no stack column. */
static int pick_columns(const struct table *t, int *sc, int *cc)
{
	*sc = *cc = -1;
	for (int c = 0; c < t->ncols; c++) {
		const struct column *col = &t->cols[c];
		if (*sc < 0 && col->type == VT_STACK)
			*sc = c;
		if (col->type == VT_INT && (!strcmp(col->name, "count") || !strcmp(col->name, "samples")))
			*cc = c;
	}
	for (int c = 0; *sc < 0 && c < t->ncols; c++) {
		const struct column *col = &t->cols[c];
		if (col->type == VT_STRING &&
		    (!strcmp(col->name, "stack") || !strcmp(col->name, "folded") || !strcmp(col->name, "frames")))
			*sc = c;
	}
	for (int c = t->ncols - 1; *cc < 0 && c >= 0; c--)
		if (t->cols[c].type == VT_INT)
			*cc = c;
	return *sc >= 0 && *cc >= 0 ? 0 : -1;
}

int render_pprof(FILE *f, struct qctx *q, struct table *const *tables, int n, const struct pprof_opts *opts,
		 char *err, size_t errlen)
{
	static const struct pprof_opts defaults = {.default_hz = 99};
	const struct pprof_opts *o = opts ? opts : &defaults;
	const struct table *t = NULL;
	int sc = -1, cc = -1, rc = -1;
	for (int i = 0; i < n && !t; i++)
		if (pick_columns(tables[i], &sc, &cc) == 0)
			t = tables[i];
	if (!t) {
		snprintf(err, errlen, "-o pprof needs a table with a stack column and a count column (flamegraph, or a "
				      "script that groups by stack); %s", n ? "none has both" : "the script displayed none");
		return -1;
	}
	struct pprof b = {.it = qctx_intern(q)};
	hashmap_init(&b.strs, false);
	hashmap_init(&b.locs, false);
	hashmap_init(&b.funcs, false);
	hashmap_init(&b.maps, false);
	hashmap_init(&b.by_frame[0], false);
	hashmap_init(&b.by_frame[1], false);
	int labels[64], nlabels = 0, node_col = table_find(t, "node"), bc = table_find(t, "blocked_ns");
	if (bc >= 0 && (t->cols[bc].type != VT_INT || bc == cc))
		bc = -1; /* bc >= 0: an off-CPU profile, its second value the time blocked */
	for (int c = 0; c < t->ncols && nlabels < 64; c++)
		if (c != sc && c != cc && c != bc &&
		    (t->cols[c].type == VT_STRING || t->cols[c].type == VT_INT || t->cols[c].type == VT_TIME))
			labels[nlabels++] = c;

	Sample *samples = calloc(t->nrows ? t->nrows : 1, sizeof(*samples));
	Sample **sample_ptrs = calloc(t->nrows ? t->nrows : 1, sizeof(*sample_ptrs));
	int64_t *values = calloc(2 * (t->nrows ? t->nrows : 1), sizeof(*values));
	Label *label_pool = calloc((size_t)(nlabels ? nlabels : 1) * (t->nrows ? t->nrows : 1), sizeof(*label_pool));
	Label **label_ptrs = calloc((size_t)(nlabels ? nlabels : 1) * (t->nrows ? t->nrows : 1), sizeof(*label_ptrs));
	size_t *first_id = calloc(t->nrows + 1, sizeof(*first_id));
	Location *locs = NULL, **loc_ptrs = NULL;
	Line *lines = NULL, **line_ptrs = NULL;
	Function *fns = NULL, **fn_ptrs = NULL;
	Mapping *maps = NULL, **map_ptrs = NULL;
	long *order = NULL;
	uint64_t *map_id = NULL;
	uint8_t *buf = NULL;
	char **strings = NULL;
	if (!b.it || !samples || !sample_ptrs || !values || !label_pool || !label_ptrs || !first_id ||
	    str_index_c(&b, "") != 0)
		goto oom;
	int64_t label_keys[64], ns_unit = 0;
	for (int l = 0; l < nlabels; l++)
		if ((label_keys[l] = str_index_c(&b, t->cols[labels[l]].name)) < 0)
			goto oom;
	for (int l = 0; l < nlabels; l++)
		if (t->cols[labels[l]].type == VT_TIME && (ns_unit = str_index_c(&b, "nanoseconds")) < 0)
			goto oom;

	for (size_t r = 0; r < t->nrows; r++) {
		first_id[r] = b.nids;
		if (stack_ids(&b, &t->cols[sc], r) < 0)
			goto oom;
		if (b.nids > first_id[r] && b.li[b.ids[b.nids - 1] - 1].mapping >= 0) /* the outermost frame */
			b.mi[b.li[b.ids[b.nids - 1] - 1].mapping].roots += t->cols[cc].v.i[r];
		Sample *s = &samples[r];
		perftools__profiles__sample__init(s);
		sample_ptrs[r] = s;
		int64_t count = t->cols[cc].v.i[r];
		values[2 * r] = count;
		values[2 * r + 1] = bc >= 0 ? t->cols[bc].v.i[r]
					    : count * period_of(o, node_col >= 0 && t->cols[node_col].type == VT_STRING
								   ? t->cols[node_col].v.s[r]
								   : NULL);
		s->n_value = 2;
		s->value = &values[2 * r];
		s->n_label = (size_t)nlabels;
		s->label = &label_ptrs[r * (size_t)nlabels];
		for (int l = 0; l < nlabels; l++) {
			const struct column *col = &t->cols[labels[l]];
			Label *lb = &label_pool[r * (size_t)nlabels + (size_t)l];
			perftools__profiles__label__init(lb);
			lb->key = label_keys[l];
			if (col->type == VT_STRING) {
				if ((lb->str = str_index_c(&b, col->v.s[r] ? col->v.s[r] : "")) < 0)
					goto oom;
			} else {
				lb->num = col->v.i[r];
				lb->num_unit = col->type == VT_TIME ? ns_unit : 0;
			}
			s->label[l] = lb;
		}
	}
	first_id[t->nrows] = b.nids;
	for (size_t r = 0; r < t->nrows; r++) { /* ids may have moved while they grew */
		samples[r].location_id = b.ids + first_id[r];
		samples[r].n_location_id = first_id[r + 1] - first_id[r];
	}

	size_t nloc = b.locs.count, nfn = b.funcs.count, nmap = b.maps.count;
	maps = calloc(nmap ? nmap : 1, sizeof(*maps));
	map_ptrs = calloc(nmap ? nmap : 1, sizeof(*map_ptrs));
	order = calloc(nmap ? nmap : 1, sizeof(*order));
	map_id = calloc(nmap ? nmap : 1, sizeof(*map_id));
	if (!maps || !map_ptrs || !order || !map_id)
		goto oom;
	/* Mappings by the samples they start, most first (insertion sort: a profile has few). */
	for (size_t i = 0; i < nmap; i++) {
		size_t j = i;
		for (; j > 0 && b.mi[order[j - 1]].roots < b.mi[i].roots; j--)
			order[j] = order[j - 1];
		order[j] = (long)i;
	}
	for (size_t i = 0; i < nmap; i++) {
		const struct map_info *m = &b.mi[order[i]];
		perftools__profiles__mapping__init(&maps[i]);
		maps[i].id = map_id[order[i]] = i + 1;
		maps[i].filename = m->file;
		maps[i].build_id = m->build_id;
		maps[i].has_functions = true;
		maps[i].has_filenames = maps[i].has_line_numbers = m->has_lines;
		map_ptrs[i] = &maps[i];
	}
	locs = calloc(nloc ? nloc : 1, sizeof(*locs));
	loc_ptrs = calloc(nloc ? nloc : 1, sizeof(*loc_ptrs));
	lines = calloc(nloc ? nloc : 1, sizeof(*lines));
	line_ptrs = calloc(nloc ? nloc : 1, sizeof(*line_ptrs));
	fns = calloc(nfn ? nfn : 1, sizeof(*fns));
	fn_ptrs = calloc(nfn ? nfn : 1, sizeof(*fn_ptrs));
	if (!locs || !loc_ptrs || !lines || !line_ptrs || !fns || !fn_ptrs)
		goto oom;
	for (size_t i = 0; i < nloc; i++) {
		perftools__profiles__location__init(&locs[i]);
		perftools__profiles__line__init(&lines[i]);
		locs[i].id = i + 1;
		locs[i].mapping_id = b.li[i].mapping >= 0 ? map_id[b.li[i].mapping] : 0;
		lines[i].function_id = b.li[i].function_id;
		lines[i].line = b.li[i].line;
		line_ptrs[i] = &lines[i];
		locs[i].n_line = 1;
		locs[i].line = &line_ptrs[i];
		loc_ptrs[i] = &locs[i];
	}
	for (size_t i = 0; i < nfn; i++) {
		perftools__profiles__function__init(&fns[i]);
		fns[i].id = i + 1;
		fns[i].name = b.fi[i].name;
		fns[i].system_name = b.fi[i].raw;
		fns[i].filename = b.fi[i].file;
		fn_ptrs[i] = &fns[i];
	}

	ValueType types[2], period_type, *type_ptrs[2] = {&types[0], &types[1]};
	for (int i = 0; i < 2; i++)
		perftools__profiles__value_type__init(&types[i]);
	perftools__profiles__value_type__init(&period_type);
	int64_t samples_s = str_index_c(&b, bc >= 0 ? "periods" : "samples"), count_s = str_index_c(&b, "count"),
		cpu_s = str_index_c(&b, bc >= 0 ? "off_cpu" : "cpu"), nanos_s = str_index_c(&b, "nanoseconds");
	if (samples_s < 0 || count_s < 0 || cpu_s < 0 || nanos_s < 0)
		goto oom;
	types[0].type = samples_s;
	types[0].unit = count_s;
	types[1].type = period_type.type = cpu_s;
	types[1].unit = period_type.unit = nanos_s;

	Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	p.n_sample_type = 2;
	p.sample_type = type_ptrs;
	p.n_sample = t->nrows;
	p.sample = sample_ptrs;
	p.n_mapping = nmap;
	p.mapping = map_ptrs;
	p.n_location = nloc;
	p.location = loc_ptrs;
	p.n_function = nfn;
	p.function = fn_ptrs;
	p.period_type = &period_type;
	p.period = bc >= 0 ? 0 : period_of(o, NULL); /* off-CPU periods have no fixed length */
	p.time_nanos = o->time_ns ? o->time_ns : wall_now_ns();
	p.duration_nanos = o->duration_ns;
	p.default_sample_type = cpu_s;
	/* The string table last: everything above added to it. */
	if (!(strings = calloc(b.strs.count ? b.strs.count : 1, sizeof(*strings))))
		goto oom;
	for (size_t i = 0; i < b.strs.count; i++)
		strings[i] = (char *)b.strs.order[i];
	p.n_string_table = b.strs.count;
	p.string_table = strings;

	size_t len = perftools__profiles__profile__get_packed_size(&p);
	if (!(buf = malloc(len ? len : 1)))
		goto oom;
	perftools__profiles__profile__pack(&p, buf);
	if (write_gzip(f, buf, len) < 0 || fflush(f) != 0)
		snprintf(err, errlen, "-o pprof: cannot write the profile");
	else
		rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "-o pprof: out of memory");
out:
	free(buf);
	free(strings);
	free(fn_ptrs);
	free(fns);
	free(map_id);
	free(order);
	free(map_ptrs);
	free(maps);
	free(line_ptrs);
	free(lines);
	free(loc_ptrs);
	free(locs);
	free(first_id);
	free(label_ptrs);
	free(label_pool);
	free(values);
	free(sample_ptrs);
	free(samples);
	free(b.ids);
	free(b.li);
	free(b.fi);
	free(b.mi);
	hashmap_destroy(&b.strs);
	hashmap_destroy(&b.locs);
	hashmap_destroy(&b.funcs);
	hashmap_destroy(&b.maps);
	hashmap_destroy(&b.by_frame[0]);
	hashmap_destroy(&b.by_frame[1]);
	return rc;
}
