/* live.c - subscriptions: a script that streams (docs/PROTOCOL.md, "subscribe"). The
 * coordinator keeps the script's sliding window as panes, each the merged partial state of one
 * slice of time from every agent; a tick asks the agents only for the slice since the last tick,
 * folds it in as a new pane, retires the panes that slid out, and runs the rest of the plan (what
 * cannot be merged: sort, head, joins, quantiles) over the panes. An agent's cost per tick thus
 * follows the new data, not the window. Clients asking for the same script, arguments, interval
 * and window share one subscription, so fifty dashboards on one script cost one computation.
 *
 * Time. Ticks fall on multiples of `every` (wall clock), LIVE_LAG_MS after each: the slice a tick
 * asks for ends at the multiple. An agent asked for a range that ends about now first waits until
 * every sample stamped before its end is in its ring (source_prepare: it wakes its drain at once,
 * and waits out a clock that is behind the coordinator's), so a tick misses nothing sampled
 * before it and sees it a few milliseconds later, not a drain period later. Slices are whole: a
 * pane is never split, and the window's oldest edge moves a pane at a time. Panes are merged pairwise as they age up to pane_ns, so a window
 * is held in about LIVE_PANES panes: a 30 s window at 1 s keeps 30 exact panes; a 1 h window
 * keeps minute panes, and its oldest edge moves by minutes.
 *
 * Panes outlive the tick that made them, but the strings and stacks of a table live in the
 * qctx of one merge (table.h); so a pane keeps its tables packed (the wire's codec) and each
 * tick unpacks the window into its own qctx. The coordinator's work per tick follows the window's
 * groups (it merges every pane, as a query over the window would), the agents' the new slice.
 *
 * Threads. The service thread owns a subscription, except while one of its ticks is being
 * merged (l->busy): then the worker owns the panes, the last body and the node list, and the
 * service thread touches only the watchers and the flags. Each subscription has at most one tick
 * in flight; a timer that fires meanwhile makes the next tick start as soon as it is done, over
 * everything since (coalescing). A client too slow to take a tick skips it: the next is whole. */
#include "coord_internal.h"
#include "net/service.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "lua/script.h"
#include "core/catalog.h"
#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_LAG_MS 10          /* a tick asks for time up to this long before it fires */
#define LIVE_PANES 60           /* about this many panes hold a window */
#define LIVE_MAX 256            /* subscriptions one coordinator runs */
#define LIVE_MAX_PER_CLIENT 16  /* ... and one client may watch */
#define LIVE_FILL_TIMEOUT_MS QUERY_TIMEOUT_MS /* the first tick reads the whole window */
#define LIVE_MIN_TIMEOUT_MS 2000

struct watcher {
	uint64_t session;
	int64_t id;              /* the client's request id: its ticks carry it */
	uint64_t skipped;        /* ticks it missed since the last it took */
};

struct pane {
	int64_t t0, t1;          /* [t0, t1): the slice of time it holds */
	char *packed;            /* owned: a msgpack array, per bridge the table merged over the
				  * agents that answered (codec_pack_table) */
	size_t len;
	char missing[200];       /* space-separated nodes whose samples of it are missing, or "" */
};

struct live {
	struct live *next;
	struct coordinator *c;
	/* the key (clients asking for all of it the same share the subscription) */
	char name[128];
	char *script;            /* owned */
	size_t script_len;
	char **argv;             /* owned, NULL-terminated */
	int argc;
	int64_t every_ms, window_ms, max_rows, mem_limit_mb;
	/* compiled once */
	struct plan *plan;       /* owned; ticks borrow it */
	char *log;               /* what the script printed */
	char err[1024];
	int64_t pane_ns;         /* how long a pane may grow by merging */
	struct watcher *watchers;
	int nwatchers, capwatchers;
	/* the window: the worker's while busy */
	struct pane *panes;      /* oldest first, contiguous in time */
	int npanes, cappanes;
	int64_t cursor_ns;       /* the newest pane's end; 0 before the first tick */
	uint64_t ticks;
	char nodes[4096];        /* space-separated agents of the last tick: who joined, who left */
	msgpack_sbuffer body;    /* the tick's body (proto_pack_tick_body), packed by the merge (worker) */
	struct ws_shared *shared; /* the last tick's body, sent to every watcher and to new ones
				   * (service thread: a copy of body made in tick_done; owned) */
	/* the tick in flight */
	int64_t tick_end_ns;     /* the end of the slice it asked for */
	int tick_watchers;       /* how many watched when it started */
	bool busy;               /* compiling, or a tick being gathered or merged */
	bool again;              /* the timer fired while busy */
	bool dead;               /* nobody watches: free once no longer busy */
	lws_sorted_usec_list_t sul;
};

static int64_t floor_to(int64_t t, int64_t step)
{
	return t - ((t % step) + step) % step;
}

/* ---- life ------------------------------------------------------------------------------------ */

static void pane_free(struct pane *p)
{
	free(p->packed);
	p->packed = NULL;
}

/* Packs tables[0..nb) into p. 0, or -1 (out of memory). */
static int pane_pack(struct pane *p, struct table *const *tables, int nb)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, nb);
	for (int b = 0; b < nb; b++)
		codec_pack_table(&pk, tables[b]);
	free(p->packed);
	p->packed = sb.data;
	p->len = sb.size;
	return sb.data || nb == 0 ? 0 : -1;
}

/* The pane's tables, unpacked into qc: out[0..nb) (owned by the caller). 0, or -1 (error in qc). */
static int pane_unpack(struct qctx *qc, const struct pane *p, int nb, struct table **out)
{
	msgpack_unpacked u;
	int b = 0;
	msgpack_unpacked_init(&u);
	if (!mp_unpack(&u, p->packed, p->len) || u.data.type != MSGPACK_OBJECT_ARRAY ||
	    u.data.via.array.size != (uint32_t)nb)
		qctx_fail(qc, "internal: a pane does not unpack");
	for (; !qctx_failed(qc) && b < nb; b++)
		if (codec_unpack_table(qc, &u.data.via.array.ptr[b], &out[b]) < 0)
			break;
	msgpack_unpacked_destroy(&u);
	if (b == nb)
		return 0;
	while (b-- > 0)
		table_free(out[b]);
	return -1;
}

static void live_free(struct live *l)
{
	struct coordinator *c = l->c;
	assert(!l->busy);
	for (struct live **pl = &c->lives; *pl; pl = &(*pl)->next)
		if (*pl == l) {
			*pl = l->next;
			break;
		}
	lws_sul_cancel(&l->sul);
	for (int i = 0; i < l->npanes; i++)
		pane_free(&l->panes[i]);
	free(l->panes);
	free(l->watchers);
	free(l->script);
	for (int i = 0; i < l->argc; i++)
		free(l->argv[i]);
	free(l->argv);
	plan_free(l->plan);
	free(l->log);
	msgpack_sbuffer_destroy(&l->body);
	ws_shared_unref(l->shared);
	service_memory_freed(c->svc);
	free(l);
}

/* Nobody watches l any more: it goes now, or when its tick is done. */
static void live_release(struct live *l)
{
	if (l->nwatchers > 0)
		return;
	if (l->busy)
		l->dead = true;
	else
		live_free(l);
}

static void remove_watcher(struct live *l, int i)
{
	l->watchers[i] = l->watchers[--l->nwatchers];
}

static int client_watches(const struct coordinator *c, uint64_t session)
{
	int n = 0;
	for (const struct live *l = c->lives; l; l = l->next)
		for (int i = 0; i < l->nwatchers; i++)
			n += l->watchers[i].session == session;
	return n;
}

bool live_watches(const struct coordinator *c, const struct session *s)
{
	return client_watches(c, s->id) > 0;
}

void handle_unsubscribe(struct coordinator *c, struct session *s, int64_t id)
{
	for (struct live *l = c->lives, *next; l; l = next) {
		next = l->next;
		for (int i = 0; i < l->nwatchers; i++)
			if (l->watchers[i].session == s->id && l->watchers[i].id == id) {
				remove_watcher(l, i);
				live_release(l);
				return;
			}
	}
}

void live_client_gone(struct coordinator *c, struct session *s)
{
	for (struct live *l = c->lives, *next; l; l = next) {
		next = l->next;
		for (int i = l->nwatchers - 1; i >= 0; i--)
			if (l->watchers[i].session == s->id)
				remove_watcher(l, i);
		live_release(l);
	}
}

void live_stop_all(struct coordinator *c)
{
	while (c->lives) {
		c->lives->busy = false; /* no worker runs any more (coordinator_stop) */
		live_free(c->lives);
	}
}

/* ---- sending ticks --------------------------------------------------------------------------- */

/* The last tick to watcher w: its envelope, then the shared body. A client that has not taken
 * the last one yet skips this one (its queue never holds more than a tick). */
static void send_tick(struct live *l, struct watcher *w)
{
	struct session *s = session_by_id(l->c, w->session);
	if (!s || !l->shared)
		return;
	if (s->peer.tx_bytes > 0) {
		w->skipped++;
		return;
	}
	struct proto_buf b;
	proto_buf_init(&b);
	proto_pack_tick_head(&b.pk, w->id, w->skipped);
	if (s->peer.wsi) /* its own head, then the body every watcher shares */
		ws_peer_send_shared(&s->peer, b.sb.data, b.sb.size, l->shared);
	proto_buf_destroy(&b);
	w->skipped = 0;
}

/* Every watcher hears msg, and the subscription ends. */
static void live_fail(struct live *l, const char *msg)
{
	for (int i = 0; i < l->nwatchers; i++) {
		struct proto_buf b;
		proto_buf_init(&b);
		proto_pack_error(&b.pk, l->watchers[i].id, msg, l->log ? l->log : "");
		session_send(session_by_id(l->c, l->watchers[i].session), &b.sb);
		proto_buf_destroy(&b);
	}
	l->nwatchers = 0;
	live_release(l);
}

/* ---- ticks ----------------------------------------------------------------------------------- */

static void tick_cb(lws_sorted_usec_list_t *sul);

/* The timer for the next multiple of every, LIVE_LAG_MS after it. */
static void schedule_tick(struct live *l)
{
	int64_t every = l->every_ms * 1000000LL, now = wall_now_ns();
	int64_t at = floor_to(now - LIVE_LAG_MS * 1000000LL, every) + every + LIVE_LAG_MS * 1000000LL;
	lws_sul_schedule(l->c->svc->ctx, 0, &l->sul, tick_cb, (at - now) / 1000);
}

/* Asks every agent for the slice since the last tick (the first: the whole window, as panes). */
static void start_tick(struct live *l)
{
	struct coordinator *c = l->c;
	int64_t every = l->every_ms * 1000000LL, window = l->window_ms * 1000000LL;
	int64_t end = floor_to(wall_now_ns() - LIVE_LAG_MS * 1000000LL, every);
	bool fill = l->cursor_ns == 0;
	assert(!l->busy);
	schedule_tick(l);
	if (!fill && end <= l->cursor_ns)
		return;
	int64_t start = fill ? end - window : l->cursor_ns;
	int n = fill ? (int)((window + l->pane_ns - 1) / l->pane_ns) : 1;
	struct query *q = query_new(c, 0, 0, fill ? LIVE_FILL_TIMEOUT_MS
						   : (2 * l->every_ms > LIVE_MIN_TIMEOUT_MS ? 2 * l->every_ms
											    : LIVE_MIN_TIMEOUT_MS));
	if (!q || !(q->ranges = calloc(n, sizeof(*q->ranges)))) {
		if (q)
			query_free(q);
		return; /* out of memory: the next tick tries again */
	}
	assert(n <= EXEC_MAX_RANGES);
	for (int i = 0; i < n; i++) {
		q->ranges[i][0] = start + i * (fill ? l->pane_ns : 0);
		q->ranges[i][1] = i == n - 1 ? end : q->ranges[i][0] + l->pane_ns;
	}
	q->nranges = n;
	q->live = l;
	q->plan = l->plan;
	snprintf(q->name, sizeof(q->name), "%s", l->name);
	q->max_rows = l->max_rows;
	q->mem_limit_mb = l->mem_limit_mb;
	q->compiled_ns = q->started_ns;
	msgpack_packer pk;
	msgpack_packer_init(&pk, &q->exec_msg, msgpack_sbuffer_write);
	proto_pack_exec_ranges(&pk, q->qid, q->timeout_ms, q->mem_limit_mb, l->plan, (const int64_t(*)[2])q->ranges, n);
	l->busy = true;
	l->tick_end_ns = end;
	l->tick_watchers = l->nwatchers;
	fan_out(q);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct live *l = lws_container_of(sul, struct live, sul);
	if (l->busy)
		l->again = true;
	else
		start_tick(l);
}

/* Service thread: the tick is merged; every watcher gets it. */
static void tick_done(void *arg)
{
	struct query *q = arg;
	struct live *l = q->live;
	assert(q->busy && l->busy);
	q->busy = false;
	query_free(q);
	l->busy = false;
	if (l->dead) {
		live_free(l);
		return;
	}
	ws_shared_unref(l->shared); /* queued ticks keep their own references */
	l->shared = l->body.size ? ws_shared_new(l->body.data, l->body.size) : NULL;
	for (int i = 0; i < l->nwatchers; i++)
		send_tick(l, &l->watchers[i]);
	if (l->again) {
		l->again = false;
		start_tick(l);
	}
}

void live_tick_failed(struct query *q, const char *msg)
{
	struct live *l = q->live;
	(void)msg; /* out of memory: the next tick tries again */
	l->busy = false;
	if (l->dead)
		live_free(l); /* (query_free does not touch it) */
}

/* ---- the window (worker) --------------------------------------------------------------------- */

/* Adds the nodes of missing (space-separated) to the pane's list. */
static void pane_missing(struct pane *p, const char *node)
{
	size_t len = strlen(p->missing);
	if (len + strlen(node) + 2 < sizeof(p->missing))
		snprintf(p->missing + len, sizeof(p->missing) - len, "%s%s", len ? " " : "", node);
}

static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Merges pane i+1 into pane i. 0, or -1 (error in qc). */
static int merge_panes(struct live *l, struct qctx *qc, int i)
{
	struct pane *a = &l->panes[i], *b = &l->panes[i + 1];
	int nb = l->plan->nbridges, rc = -1;
	struct table **ta = calloc(nb ? nb : 1, sizeof(*ta)), **tb = calloc(nb ? nb : 1, sizeof(*tb));
	struct table **out = calloc(nb ? nb : 1, sizeof(*out));
	if (!ta || !tb || !out) {
		qctx_fail(qc, "out of memory");
		goto done;
	}
	if (pane_unpack(qc, a, nb, ta) < 0)
		goto done;
	if (pane_unpack(qc, b, nb, tb) < 0)
		goto done;
	for (int k = 0; k < nb; k++) {
		struct table *both[2] = {ta[k], tb[k]};
		if (exec_merge_bridge(qc, l->plan, k, both, 2, &out[k]) < 0)
			goto done;
	}
	if (pane_pack(a, out, nb) < 0) {
		qctx_fail(qc, "out of memory");
		goto done;
	}
	a->t1 = b->t1;
	for (char *w = b->missing, *save = NULL; (w = strtok_r(w, " ", &save)); w = NULL)
		if (!has_word(a->missing, w))
			pane_missing(a, w);
	pane_free(b);
	memmove(b, b + 1, (size_t)(l->npanes - i - 2) * sizeof(*b));
	l->npanes--;
	rc = 0;
done:
	for (int k = 0; k < nb; k++) {
		table_free(ta ? ta[k] : NULL);
		table_free(tb ? tb[k] : NULL);
		table_free(out ? out[k] : NULL);
	}
	free(ta);
	free(tb);
	free(out);
	return rc;
}

/* The tick's slices, merged over the agents, become panes; agents whose input cannot be merged
 * are dropped with a warning and the slices merged again without them. 0, or -1 (error in qc). */
static int add_panes(struct live *l, struct merge *m)
{
	const struct query *q = m->q;
	int nb = l->plan->nbridges, rc = -1;
	struct table **t = calloc(nb ? nb : 1, sizeof(*t));
	if (!t)
		return qctx_fail(&m->qc, "out of memory");
	if (l->npanes + q->nranges > l->cappanes) {
		int cap = l->npanes + q->nranges + LIVE_PANES;
		struct pane *p = realloc(l->panes, (size_t)cap * sizeof(*p));
		if (!p) {
			qctx_fail(&m->qc, "out of memory");
			goto done;
		}
		l->panes = p;
		l->cappanes = cap;
	}
	for (int r = 0; r < q->nranges; r++)
		l->panes[l->npanes + r] = (struct pane){.t0 = q->ranges[r][0], .t1 = q->ranges[r][1]};
	for (int r = 0; r < q->nranges; r++) {
		int b = 0;
		for (; b < nb; b++)
			if (exec_merge_bridge(&m->qc, l->plan, b, m->inputs[r * nb + b], q->nanswers, &t[b]) < 0)
				break;
		if (b == nb && pane_pack(&l->panes[l->npanes + r], t, nb) < 0)
			qctx_fail(&m->qc, "out of memory");
		for (int k = 0; k < b; k++) {
			table_free(t[k]);
			t[k] = NULL;
		}
		if (!qctx_failed(&m->qc))
			continue;
		int a = m->qc.bad_input;
		if (b == nb || a < 0)
			goto done;
		merge_warn(m, "agent %s: answer dropped: %s", q->answers[a].node, m->qc.err);
		m->qc.err[0] = '\0';
		merge_drop_agent(m, a);
		r = -1; /* every slice again, without agent a */
	}
	for (int r = 0; r < q->nranges; r++)
		for (int a = 0; a < q->nanswers; a++)
			if (!m->answered[a])
				pane_missing(&l->panes[l->npanes + r], q->answers[a].node);
	l->npanes += q->nranges;
	rc = 0;
done:
	if (rc < 0)
		for (int r = 0; r < q->nranges; r++)
			pane_free(&l->panes[l->npanes + r]);
	free(t);
	return rc;
}

/* Retires the panes that slid out of [end - window, end) and merges young panes up to pane_ns
 * (never the newest, which the next tick's slice may still join). */
static int slide(struct live *l, struct qctx *qc, int64_t end)
{
	int64_t start = end - l->window_ms * 1000000LL;
	int old = 0;
	while (old < l->npanes && l->panes[old].t0 < start)
		pane_free(&l->panes[old++]);
	memmove(l->panes, l->panes + old, (size_t)(l->npanes - old) * sizeof(*l->panes));
	l->npanes -= old;
	for (int i = 0; i + 2 < l->npanes;)
		if (l->panes[i + 1].t1 - l->panes[i].t0 <= l->pane_ns) {
			if (merge_panes(l, qc, i) < 0)
				return -1;
		} else {
			i++;
		}
	return 0;
}

/* Warnings about the window as a whole: agents that joined or left since the last tick, and
 * agents whose samples are missing from part of the window (not only from this tick's slice). */
static void window_warnings(struct live *l, struct merge *m)
{
	const struct query *q = m->q;
	char now[sizeof(l->nodes)] = "";
	for (int a = 0; a < q->nanswers; a++) {
		size_t len = strlen(now);
		snprintf(now + len, sizeof(now) - len, "%s%s", len ? " " : "", q->answers[a].node);
		if (l->ticks > 0 && !has_word(l->nodes, q->answers[a].node))
			merge_warn(m, "agent %s joined", q->answers[a].node);
	}
	for (char *w = l->nodes, *save = NULL; l->ticks > 0 && (w = strtok_r(w, " ", &save)); w = NULL)
		if (!has_word(now, w))
			merge_warn(m, "agent %s left", w);
	snprintf(l->nodes, sizeof(l->nodes), "%s", now);
	/* missing from panes before this tick's: say for how long */
	char seen[sizeof(l->nodes)] = "";
	for (int i = 0; i + q->nranges < l->npanes; i++) {
		char list[sizeof(l->panes[i].missing)];
		snprintf(list, sizeof(list), "%s", l->panes[i].missing);
		for (char *w = list, *save = NULL; (w = strtok_r(w, " ", &save)); w = NULL) {
			if (has_word(seen, w))
				continue;
			int64_t ns = 0;
			for (int k = i; k < l->npanes; k++)
				if (has_word(l->panes[k].missing, w))
					ns += l->panes[k].t1 - l->panes[k].t0;
			size_t len = strlen(seen);
			snprintf(seen + len, sizeof(seen) - len, "%s%s", len ? " " : "", w);
			merge_warn(m, "agent %s: its samples are missing from %.1f s of the window", w, (double)ns / 1e9);
		}
	}
}

void live_merge_run(void *arg)
{
	struct query *q = arg;
	struct live *l = q->live;
	const struct plan *p = l->plan;
	int nb = p->nbridges;
	struct merge m;
	struct table **outs = calloc(p->ndisplays ? p->ndisplays : 1, sizeof(*outs));
	bool *trunc = calloc(p->ndisplays ? p->ndisplays : 1, sizeof(*trunc));
	struct table ***panes = calloc(nb ? nb : 1, sizeof(*panes));
	int64_t merge_start = mono_now_ns(), last_ns = q->fanned_ns;
	bool finished = false;

	if (merge_begin(&m, q, q->nranges * nb, p->ndisplays + 16) < 0 || !outs || !trunc || !panes)
		goto out;
	if (merge_decode_all(&m, &last_ns) < 0) { /* nobody answered: the window slides all the same */
		if (q->nanswers == 0)
			merge_warn(&m, "no agents are connected to this coordinator");
		m.qc.err[0] = '\0';
	}
	if (add_panes(l, &m) < 0)
		goto out;
	l->cursor_ns = l->tick_end_ns;
	if (slide(l, &m.qc, l->cursor_ns) < 0)
		goto out;
	window_warnings(l, &m);
	for (int b = 0; b < nb; b++)
		if (!(panes[b] = calloc(l->npanes ? l->npanes : 1, sizeof(**panes)))) {
			qctx_fail(&m.qc, "out of memory");
			goto out;
		}
	for (int i = 0; i < l->npanes; i++) {
		struct table *t[nb ? nb : 1];
		if (pane_unpack(&m.qc, &l->panes[i], nb, t) < 0)
			goto out;
		for (int b = 0; b < nb; b++)
			panes[b][i] = t[b];
	}
	if (exec_finish(&m.qc, p, (struct table *const *const *)panes, l->npanes, outs, trunc) < 0)
		goto out;
	finished = true;
	for (int d = 0; d < p->ndisplays; d++) {
		m.st.rows += outs[d]->nrows;
		if (trunc[d])
			merge_warn(&m, "table %s truncated to %lld rows (raise with --max-rows)", p->displays[d].name,
				   (long long)q->max_rows);
	}
out:
	if (!finished)
		merge_warn(&m, "tick %llu failed: %s", (unsigned long long)l->ticks + 1,
			   m.qc.err[0] ? m.qc.err : "out of memory");
	l->ticks++;
	int64_t now = mono_now_ns();
	m.st.agents_ms = (double)(last_ns - q->fanned_ns) / 1e6;
	m.st.merge_ms = (double)(now - merge_start) / 1e6;
	m.st.ms = (double)(now - q->started_ns) / 1e6;
	struct live_tick t = {.tick = l->ticks, .time_ns = l->cursor_ns,
			      .window_start_ns = l->npanes ? l->panes[0].t0 : l->cursor_ns,
			      .watchers = l->tick_watchers};
	msgpack_packer pk;
	l->body.size = 0;
	msgpack_packer_init(&pk, &l->body, msgpack_sbuffer_write);
	proto_pack_tick_body(&pk, &t, outs, finished ? p->ndisplays : 0, m.warnings, m.nwarn, l->log ? l->log : "",
			     &m.st);
	for (int d = 0; outs && d < p->ndisplays; d++)
		table_free(outs[d]);
	for (int b = 0; panes && b < nb; b++) {
		for (int i = 0; panes[b] && i < l->npanes; i++)
			table_free(panes[b][i]);
		free(panes[b]);
	}
	free(panes);
	free(outs);
	free(trunc);
	q->outcome = finished ? QUERY_OK : QUERY_FAILED;
	merge_end(&m);
	inbox_post(q->c->svc->inbox, tick_done, q);
}

/* ---- subscribing ----------------------------------------------------------------------------- */

/* Can plan be watched? Every scan must read a stored table (stack_samples, offcpu_samples) over
 * one range (a script comparing two ranges, like diff, cannot slide). "" when it can. */
static void check_plan(const struct plan *p, char *err, size_t errlen)
{
	const struct plan_node *first = NULL;
	for (int i = 0; i < p->nnodes; i++) {
		const struct plan_node *n = p->nodes[i];
		if (n->kind != N_SOURCE)
			continue;
		if (!catalog_is_timeseries(n->table)) {
			snprintf(err, errlen,
				 "line %d: live queries read stored tables only (stack_samples, offcpu_samples), not %s "
				 "(use `wisp run`)", n->line, n->table);
			return;
		}
		if (first && (n->t0 != first->t0 || n->t1 != first->t1)) {
			snprintf(err, errlen,
				 "lines %d and %d scan different time ranges; a live query slides one window "
				 "(use `wisp run` to compare ranges)", first->line, n->line);
			return;
		}
		first = first ? first : n;
	}
}

static void compiled(void *arg)
{
	struct live *l = arg;
	assert(l->busy);
	l->busy = false;
	if (l->dead) {
		live_free(l);
	} else if (l->err[0]) {
		live_fail(l, l->err);
	} else {
		start_tick(l);
	}
}

static void compile(void *arg)
{
	struct live *l = arg;
	struct script_input in = {l->name, l->script, l->script_len, (const char *const *)l->argv, l->argc,
				  wall_now_ns()};
	struct script_limits lim = SCRIPT_DEFAULT_LIMITS;
	if (script_pool_compile(l->c->scripts, &in, &lim, &l->plan, &l->log, l->err, sizeof(l->err)) == 0) {
		check_plan(l->plan, l->err, sizeof(l->err));
		if (!l->err[0] && plan_split(l->plan) < 0)
			snprintf(l->err, sizeof(l->err), "out of memory");
	}
	inbox_post(l->c->svc->inbox, compiled, l);
}

static bool same_key(const struct live *l, const struct run_request *r, char *const *argv, int argc)
{
	if (strcmp(l->name, r->name) || l->script_len != r->script_len || memcmp(l->script, r->script, r->script_len) ||
	    l->every_ms != r->every_ms || l->window_ms != r->window_ms || l->max_rows != r->max_rows ||
	    l->mem_limit_mb != r->mem_limit_mb || l->argc != argc)
		return false;
	for (int i = 0; i < argc; i++)
		if (strcmp(l->argv[i], argv[i]))
			return false;
	return true;
}

static int add_watcher(struct live *l, struct session *s, int64_t id)
{
	if (l->nwatchers == l->capwatchers) {
		int cap = l->capwatchers ? 2 * l->capwatchers : 4;
		struct watcher *w = realloc(l->watchers, (size_t)cap * sizeof(*w));
		if (!w)
			return -1;
		l->watchers = w;
		l->capwatchers = cap;
	}
	l->watchers[l->nwatchers++] = (struct watcher){s->id, id, 0};
	return 0;
}

void handle_subscribe(struct coordinator *c, struct session *s, const struct proto_msg *m)
{
	struct run_request r;
	char err[256];
	int argc = 0, nlives = 0;
	char **argv = NULL;
	struct live *l;
	if (proto_read_run(m->obj, m->id, &r, err, sizeof(err)) < 0) {
		session_error(s, m->id, "%s", err);
		return;
	}
	if (client_watches(c, s->id) >= LIVE_MAX_PER_CLIENT) {
		session_error(s, m->id, "subscribe: this connection already watches %d scripts", LIVE_MAX_PER_CLIENT);
		return;
	}
	if (!(argv = proto_read_args(r.args, &argc))) {
		session_error(s, m->id, "out of memory");
		return;
	}
	for (l = c->lives; l; l = l->next, nlives++)
		if (!l->dead && same_key(l, &r, argv, argc))
			break;
	if (l) { /* shared: it gets the last tick now, if there is one to give */
		for (int i = 0; i < argc; i++)
			free(argv[i]);
		free(argv);
		if (add_watcher(l, s, m->id) < 0)
			session_error(s, m->id, "out of memory");
		else if (!l->busy)
			send_tick(l, &l->watchers[l->nwatchers - 1]);
		return;
	}
	if (nlives >= LIVE_MAX) {
		session_error(s, m->id, "subscribe: this coordinator already runs %d live queries", LIVE_MAX);
		goto fail;
	}
	if (!(l = calloc(1, sizeof(*l))) || !(l->script = malloc(r.script_len + 1)) || add_watcher(l, s, m->id) < 0) {
		session_error(s, m->id, "out of memory");
		goto fail;
	}
	l->c = c;
	snprintf(l->name, sizeof(l->name), "%s", r.name);
	memcpy(l->script, r.script, r.script_len);
	l->script[r.script_len] = '\0';
	l->script_len = r.script_len;
	l->argv = argv;
	l->argc = argc;
	l->every_ms = r.every_ms;
	l->window_ms = r.window_ms;
	l->max_rows = r.max_rows;
	l->mem_limit_mb = r.mem_limit_mb;
	int64_t every = r.every_ms * 1000000LL, window = r.window_ms * 1000000LL;
	l->pane_ns = every * ((window / every + LIVE_PANES - 1) / LIVE_PANES);
	msgpack_sbuffer_init(&l->body);
	l->next = c->lives;
	c->lives = l;
	l->busy = true;
	if (jobs_submit(c->svc->jobs, compile, l) < 0) {
		l->busy = false;
		live_fail(l, "out of memory");
	}
	return;
fail:
	if (l) {
		free(l->script);
		free(l->watchers);
		free(l);
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
