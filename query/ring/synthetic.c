/* synthetic.c - the synthetic profile source (see synthetic.h). */
#include "synthetic.h"
#include "core/hashmap.h"
#include "core/intern.h"
#include "ring.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alias { /* Walker's alias method: O(1) sampling from a discrete distribution */
	uint32_t n;
	float *prob;
	uint32_t *other;
};

struct sproc {
	int64_t pid, cgroup;
	int kind;
	uint32_t first_stack, nstacks; /* its stacks in s->stacks */
	struct alias pick;             /* Zipf over its stacks */
};

struct sthread {
	struct thread_rec *rec;
	uint32_t proc;
	uint32_t group;                /* thread group: shifts which stacks it favours */
	uint32_t cpu_salt;
};

struct synth {
	struct synth_config cfg;
	struct ring *ring;
	struct sproc *procs;
	struct sthread *threads;
	struct stack **stacks;
	uint32_t nstacks;
	struct alias thread_pick;      /* CPU demand over threads */
	uint64_t rng;
	int64_t first_sec;             /* first second generated (for shift_at_s) */
	struct stack *shift_stack;     /* the regression that appears after the shift */
	uint32_t shift_proc;
	char shift_fn[64];
	struct ring_row *scratch;
};

static const char *const kinds[] = {"nginx", "envoy", "postgres", "redis-server", "java", "python3", "node",
				    "kubelet", "containerd", "etcd", "api-server", "worker", "prometheus",
				    "fluent-bit", "coredns", "mysqld", "haproxy", "clickhouse", "kafka", "memcached"};
static const char *const prefixes[] = {"ngx", "envoy", "pg", "redis", "Java_com_acme", "py", "v8",
				       "kubelet", "ctr", "etcd", "api", "worker", "prom", "flb", "dns",
				       "mysql", "hap", "ch", "kafka", "mc"};
static const char *const roots[][3] = {
	{"ngx_worker_process_cycle", "ngx_process_events_and_timers", "ngx_epoll_process_events"},
	{"Envoy::Server::InstanceImpl::run", "Envoy::Event::DispatcherImpl::run", "event_base_loop"},
	{"PostmasterMain", "ServerLoop", "PostgresMain"},
	{"aeMain", "aeProcessEvents", "processInputBuffer"},
	{"thread_native_entry", "JavaThread::thread_main_inner", "JavaCalls::call_helper"},
	{"Py_RunMain", "_PyEval_EvalFrameDefault", "PyObject_Vectorcall"},
	{"node::Start", "uv_run", "uv__io_poll"},
	{"runtime.main", "k8s.io/kubernetes/pkg/kubelet.(*Kubelet).Run", "runtime.goexit"},
	{"runtime.main", "github.com/containerd/containerd/server.(*Server).Serve", "runtime.goexit"},
	{"runtime.main", "go.etcd.io/etcd/server.(*EtcdServer).run", "runtime.goexit"},
	{"runtime.main", "net/http.(*Server).Serve", "net/http.(*conn).serve"},
	{"worker_main", "job_loop", "run_job"},
	{"runtime.main", "github.com/prometheus/prometheus/tsdb.(*DB).run", "runtime.goexit"},
	{"flb_engine_start", "mk_event_loop", "flb_input_chunk_flush"},
	{"runtime.main", "github.com/coredns/coredns/core/dnsserver.(*Server).ServeDNS", "runtime.goexit"},
	{"mysqld_main", "handle_connection", "do_command"},
	{"run_poll_loop", "process_runnable_tasks", "run_tasks_from_lists"},
	{"DB::Server::main", "DB::TCPHandler::runImpl", "DB::executeQuery"},
	{"thread_native_entry", "kafka.network.Processor.run", "kafka.server.KafkaApis.handle"},
	{"worker_thread", "event_base_loop", "event_handler"},
};
static const char *const verbs[] = {"parse", "read", "write", "encode", "decode", "handle", "process", "flush",
				    "lookup", "insert", "scan", "serialize", "hash", "compress", "validate",
				    "dispatch", "merge", "sort", "copy", "alloc"};
static const char *const nouns[] = {"request", "header", "buffer", "frame", "row", "page", "record", "message",
				    "chunk", "key", "index", "tuple", "batch", "token", "block", "entry",
				    "session", "span", "metric", "query"};
static const char *const kpath[][6] = {
	{"__x64_sys_read", "ksys_read", "vfs_read", "sock_read_iter", "tcp_recvmsg", "_copy_to_user"},
	{"__x64_sys_write", "ksys_write", "vfs_write", "ext4_file_write_iter", "generic_perform_write", "copy_page_from_iter"},
	{"__x64_sys_epoll_wait", "do_epoll_wait", "ep_poll", "schedule_hrtimeout_range", "schedule", "__schedule"},
	{"__x64_sys_futex", "do_futex", "futex_wait", "futex_wait_queue", "schedule", "__schedule"},
	{"__x64_sys_sendto", "__sys_sendto", "tcp_sendmsg", "tcp_sendmsg_locked", "tcp_push", "__tcp_transmit_skb"},
	{"asm_exc_page_fault", "exc_page_fault", "do_user_addr_fault", "handle_mm_fault", "__handle_mm_fault", "clear_page_erms"},
};
static const char *const libc[] = {"memcpy", "malloc", "free", "memset", "strlen", "__memmove_avx_unaligned_erms",
				   "pthread_mutex_lock", "__GI___libc_read", "__GI___libc_write", "epoll_wait"};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double rndf(uint64_t *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static int alias_init(struct alias *a, const double *w, uint32_t n)
{
	double sum = 0;
	for (uint32_t i = 0; i < n; i++)
		sum += w[i];
	a->n = n;
	a->prob = malloc(n * sizeof(float));
	a->other = malloc(n * sizeof(uint32_t));
	double *p = malloc(n * sizeof(double));
	uint32_t *small = malloc(n * sizeof(uint32_t)), *large = malloc(n * sizeof(uint32_t));
	if (!a->prob || !a->other || !p || !small || !large) {
		free(p);
		free(small);
		free(large);
		return -1;
	}
	uint32_t ns = 0, nl = 0;
	for (uint32_t i = 0; i < n; i++) {
		p[i] = w[i] * n / sum;
		if (p[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[--nl];
		a->prob[s] = (float)p[s];
		a->other[s] = l;
		p[l] -= 1.0 - p[s];
		if (p[l] < 1.0)
			small[ns++] = l;
		else
			large[nl++] = l;
	}
	while (nl)
		a->prob[large[--nl]] = 1.0f, a->other[large[nl]] = large[nl];
	while (ns)
		a->prob[small[--ns]] = 1.0f, a->other[small[ns]] = small[ns];
	free(p);
	free(small);
	free(large);
	return 0;
}

static inline uint32_t alias_pick(const struct alias *a, uint64_t *rng)
{
	uint64_t x = rnd(rng);
	uint32_t i = (uint32_t)((x >> 32) % a->n);
	return (float)(x & 0xffffff) / 16777216.0f < a->prob[i] ? i : a->other[i];
}

static void alias_free(struct alias *a)
{
	free(a->prob);
	free(a->other);
}

int synth_parse(const char *spec, struct synth_config *out, char *err, size_t errlen)
{
	struct synth_config c = SYNTH_DEFAULTS;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
	for (char *save, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err, errlen, "synthetic: expected key=value, got '%s'", kv);
			return -1;
		}
		*eq = '\0';
		const char *k = kv, *v = eq + 1;
		char *end;
		double d = strtod(v, &end);
		int64_t mult = 1;
		if (*end == 's')
			end++;
		else if (*end == 'm')
			mult = 60, end++;
		else if (*end == 'h')
			mult = 3600, end++;
		else if (*end == 'd')
			mult = 86400, end++;
		if (end == v || *end) {
			snprintf(err, errlen, "synthetic: bad value '%s' for %s", v, k);
			return -1;
		}
		if (!strcmp(k, "cpus")) c.cpus = (int)d;
		else if (!strcmp(k, "hz")) c.hz = (int)d;
		else if (!strcmp(k, "stacks")) c.stacks = (int)d;
		else if (!strcmp(k, "procs")) c.procs = (int)d;
		else if (!strcmp(k, "threads")) c.threads = (int)d;
		else if (!strcmp(k, "seed")) c.seed = (uint64_t)d;
		else if (!strcmp(k, "speed")) c.speed = d;
		else if (!strcmp(k, "backfill")) c.backfill_s = (int64_t)(d * mult);
		else if (!strcmp(k, "shift")) c.shift_at_s = (int64_t)(d * mult);
		else {
			snprintf(err, errlen, "synthetic: unknown key '%s' (cpus, hz, stacks, procs, threads, seed, "
					      "speed, backfill, shift)", k);
			return -1;
		}
	}
	if (c.cpus < 1 || c.cpus > 4096 || c.hz < 1 || c.hz > 10000 || c.procs < 1 || c.procs > 100000 ||
	    c.threads < c.procs || c.threads > 1000000 || c.stacks < c.procs || c.stacks > 1000000 ||
	    c.speed <= 0 || c.backfill_s < 0) {
		snprintf(err, errlen, "synthetic: out of range (need 1<=cpus<=4096, 1<=hz<=10000, procs<=threads, "
				      "procs<=stacks, speed>0)");
		return -1;
	}
	*out = c;
	return 0;
}

/* A function name for process kind k. The noun is drawn first, then the verb: one order for
 * every compiler (arguments of one call are evaluated in an unspecified order). */
static void fn_name(char *buf, size_t len, int kind, uint64_t *rng)
{
	const char *noun = nouns[rnd(rng) % 20], *verb = verbs[rnd(rng) % 20];
	snprintf(buf, len, "%s_%s_%s", prefixes[kind], verb, noun);
}

static struct stack *make_stack(struct synth *s, const char **frames, int depth, int nkernel)
{
	/* frames are root first here; the ring wants leaf first. */
	const char *leaf_first[64];
	for (int i = 0; i < depth; i++)
		leaf_first[i] = frames[depth - 1 - i];
	return ring_stack(s->ring, leaf_first, (uint16_t)depth, (uint16_t)nkernel);
}

struct synth *synth_new(const struct synth_config *cfg, struct ring *r)
{
	struct synth *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->ring = r;
	s->rng = cfg->seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
	s->first_sec = INT64_MIN;
	uint64_t *rng = &s->rng;
	int P = cfg->procs, T = cfg->threads, S = cfg->stacks;
	s->procs = calloc(P, sizeof(*s->procs));
	s->threads = calloc(T, sizeof(*s->threads));
	s->stacks = calloc(S + 1, sizeof(*s->stacks));
	s->scratch = malloc((size_t)cfg->cpus * cfg->hz * sizeof(*s->scratch));
	double *w = malloc((size_t)(T > S ? T : S) * sizeof(double));
	char (*names)[96] = malloc(64 * sizeof(*names));
	if (!s->procs || !s->threads || !s->stacks || !s->scratch || !w || !names)
		goto fail;

	/* Processes: demand Zipf(1.1) over a random rank order. */
	double *pw = calloc(P, sizeof(double)), sum_sqrt = 0;
	if (!pw)
		goto fail;
	for (int p = 0; p < P; p++) {
		s->procs[p].kind = (int)(rnd(rng) % 20);
		s->procs[p].pid = 1000 + p * 37;
		s->procs[p].cgroup = 4000 + p % 60;
		pw[p] = 1.0 / pow(1.0 + (double)((p * 7919) % P), 1.1);
		sum_sqrt += sqrt(pw[p]);
	}
	/* Stacks per process ~ sqrt(demand), at least 1, summing to S. */
	uint32_t assigned = 0;
	for (int p = 0; p < P; p++) {
		uint32_t k = (uint32_t)floor(sqrt(pw[p]) / sum_sqrt * (S - P)) + 1;
		s->procs[p].nstacks = k;
		assigned += k;
	}
	for (int p = 0; assigned < (uint32_t)S; p = (p + 1) % P, assigned++)
		s->procs[p].nstacks++;
	/* Build each process's stacks as a call tree: most extend a prefix of an earlier one. */
	uint32_t si = 0;
	for (int p = 0; p < P; p++) {
		struct sproc *pr = &s->procs[p];
		pr->first_stack = si;
		const char *path[64];
		int depth = 0;
		for (uint32_t j = 0; j < pr->nstacks; j++, si++) {
			const char *base[3] = {"_start", "__libc_start_main", "main"};
			int target = 8 + (int)(rnd(rng) % 33); /* 8..40 user frames */
			if (j > 0 && rndf(rng) < 0.8) {
				/* Reuse a prefix of an earlier stack of this process. */
				struct stack *parent = s->stacks[pr->first_stack + rnd(rng) % j];
				int user = parent->nframes - parent->nkernel;
				int keep = 4 + (int)(rnd(rng) % (uint64_t)(user > 4 ? user - 3 : 1));
				if (keep > user)
					keep = user;
				depth = 0;
				for (int f = parent->nframes - 1; f >= parent->nkernel && depth < keep; f--)
					path[depth++] = parent->frames[f];
			} else {
				depth = 0;
				for (int f = 0; f < 3; f++)
					path[depth++] = base[f];
				for (int f = 0; f < 3; f++)
					path[depth++] = roots[pr->kind][f];
			}
			int nn = 0;
			while (depth < target && depth < 56) {
				if (rndf(rng) < 0.1)
					path[depth++] = libc[rnd(rng) % 10];
				else {
					fn_name(names[nn], sizeof(names[nn]), pr->kind, rng);
					path[depth++] = names[nn++];
				}
			}
			int nk = 0;
			if (rndf(rng) < 0.25) { /* syscall path at the leaf */
				const char *const *kp = kpath[rnd(rng) % 6];
				path[depth++] = "entry_SYSCALL_64_after_hwframe";
				path[depth++] = "do_syscall_64";
				nk = 2;
				for (int f = 0; f < 6 && depth < 64; f++, nk++)
					path[depth++] = kp[f];
			}
			if (!(s->stacks[si] = make_stack(s, path, depth, nk)))
				goto fail_pw;
		}
		for (uint32_t j = 0; j < pr->nstacks; j++)
			w[j] = 1.0 / pow(1.0 + j, 1.2);
		if (alias_init(&pr->pick, w, pr->nstacks) < 0)
			goto fail_pw;
	}
	s->nstacks = si;
	/* Threads: the first P are main threads; the rest go to processes by demand. */
	struct alias proc_pick;
	if (alias_init(&proc_pick, pw, P) < 0)
		goto fail_pw;
	uint32_t *per_proc = calloc(P, sizeof(uint32_t));
	for (int t = 0; t < T && per_proc; t++) {
		uint32_t p = t < P ? (uint32_t)t : alias_pick(&proc_pick, rng);
		struct sproc *pr = &s->procs[p];
		struct sthread *th = &s->threads[t];
		uint32_t k = per_proc[p]++;
		char comm[32];
		if (k == 0)
			snprintf(comm, sizeof(comm), "%s", kinds[pr->kind]);
		else
			snprintf(comm, sizeof(comm), "%.10s-w%u", kinds[pr->kind], k % 16);
		th->proc = p;
		th->group = k % 3;
		th->cpu_salt = (uint32_t)rnd(rng);
		/* Kubernetes names, a function of the cgroup as on a real node: the cgroup's pod is
		 * named after its first process (procs[j] has cgroup 4000 + j), every process in it is
		 * a container named after its kind; one cgroup in ten is a node daemon outside pods. */
		uint32_t j = (uint32_t)(pr->cgroup - 4000);
		static const char *const namespaces[] = {"default", "payments", "search", "kube-system"};
		char pod[48];
		bool in_pod = j % 10 != 9;
		snprintf(pod, sizeof(pod), "%s-%05x", kinds[s->procs[j].kind], (unsigned)(hash_mix64(j + 1) & 0xfffff));
		struct thread_key key = {pr->pid, k == 0 ? pr->pid : pr->pid + (int64_t)k, pr->cgroup, comm,
					 in_pod ? kinds[pr->kind] : "", in_pod ? pod : "", in_pod ? namespaces[j % 4] : ""};
		th->rec = ring_thread(s->ring, &key);
		w[t] = pw[p] / pow(1.0 + k, 1.0);
		if (!th->rec) {
			free(per_proc);
			alias_free(&proc_pick);
			goto fail_pw;
		}
	}
	free(per_proc);
	alias_free(&proc_pick);
	if (alias_init(&s->thread_pick, w, T) < 0)
		goto fail_pw;
	/* The regression the shift introduces: a new leaf under the busiest process's hottest stack. */
	s->shift_proc = 0;
	for (int p = 1; p < P; p++)
		if (pw[p] > pw[s->shift_proc])
			s->shift_proc = p;
	{
		struct stack *hot = s->stacks[s->procs[s->shift_proc].first_stack];
		const char *path[64];
		int depth = 0;
		for (int f = hot->nframes - 1; f >= hot->nkernel && depth < 60; f--)
			path[depth++] = hot->frames[f];
		snprintf(s->shift_fn, sizeof(s->shift_fn), "%s_regressed_slow_path", prefixes[s->procs[s->shift_proc].kind]);
		path[depth++] = s->shift_fn;
		if (!(s->shift_stack = make_stack(s, path, depth, 0)))
			goto fail_pw;
	}
	free(pw);
	free(w);
	free(names);
	return s;
fail_pw:
	free(pw);
fail:
	free(w);
	free(names);
	synth_free(s);
	return NULL;
}

void synth_free(struct synth *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->stacks && i < (uint32_t)s->cfg.stacks; i++)
		if (s->stacks[i])
			ring_release_stack(s->ring, s->stacks[i]);
	if (s->shift_stack)
		ring_release_stack(s->ring, s->shift_stack);
	for (int t = 0; s->threads && t < s->cfg.threads; t++)
		if (s->threads[t].rec)
			ring_release_thread(s->ring, s->threads[t].rec);
	for (int p = 0; s->procs && p < s->cfg.procs; p++)
		alias_free(&s->procs[p].pick);
	alias_free(&s->thread_pick);
	free(s->procs);
	free(s->threads);
	free(s->stacks);
	free(s->scratch);
	free(s);
}

size_t synth_second(struct synth *s, int64_t sec, struct ring_row *rows)
{
	const struct synth_config *c = &s->cfg;
	if (s->first_sec == INT64_MIN)
		s->first_sec = sec;
	bool shifted = c->shift_at_s > 0 && sec - s->first_sec >= c->shift_at_s;
	/* Each second is generated from its own RNG stream: deterministic whatever the call order. */
	uint64_t rng = (c->seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)sec * 0xD1B54A32D192ED03ULL;
	size_t n = 0;
	int64_t tick_ns = 1000000000LL / c->hz, cpu_ns = tick_ns / c->cpus;
	for (int k = 0; k < c->hz; k++) {
		for (int cpu = 0; cpu < c->cpus; cpu++) {
			uint32_t t = alias_pick(&s->thread_pick, &rng);
			const struct sthread *th = &s->threads[t];
			const struct sproc *pr = &s->procs[th->proc];
			uint32_t rank = alias_pick(&pr->pick, &rng);
			struct stack *st = s->stacks[pr->first_stack + (rank + th->group) % pr->nstacks];
			if (shifted && th->proc == s->shift_proc && (rnd(&rng) & 3) == 0)
				st = s->shift_stack;
			rows[n++] = (struct ring_row){
				.time_ns = sec * 1000000000LL + k * tick_ns + cpu * cpu_ns,
				.thread = th->rec,
				.stack = st,
				.cpu = (uint32_t)(((th->cpu_salt + (uint64_t)(sec / 7)) * 2654435761ULL >> 16) % (uint64_t)c->cpus),
				.count = 1,
			};
		}
	}
	return n;
}

int synth_fill(struct synth *s, int64_t from_sec, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		size_t rows = synth_second(s, from_sec + i, s->scratch);
		if (ring_append_rows(s->ring, s->scratch, rows) < 0)
			return -1;
	}
	return 0;
}

const char *synth_shift_function(const struct synth *s)
{
	return s->shift_fn;
}
