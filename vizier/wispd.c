/* wispd.c - the Wisp daemon: flags, and the wiring of one process's parts.
 *
 *   wispd standalone  [--listen HOST:PORT] [--hz N] [--ring-mb N] [--node NAME]
 *   wispd coordinator [--listen HOST:PORT] [--node NAME]
 *   wispd agent --coordinator ws[s]://HOST:PORT [--node NAME] [--hz N] [--ring-mb N]
 *   (agent and standalone) --source bpf | synthetic:SPEC | replay:FILE[,FILE...] | s3://BUCKET/PREFIX
 *   (every mode) --tls-cert FILE --tls-key FILE (serve wss://), --tls-ca FILE (agents: verify the
 *   coordinator), --token-file FILE (net/tokens.h), --insecure, --version
 *
 * Parts: an agent (agent/agent.h: ring + source) in agent and standalone mode; a coordinator
 * (coordinator/coordinator.h) in coordinator and standalone mode; in agent mode the agent's link
 * to its coordinator (agent/link.h). Threads: the lws service thread (sockets, timers, query
 * bookkeeping), the source's thread (BPF -> ring, or the synthetic generator) and a small worker
 * pool (scripts, scans, merges), bundled in a struct service (net/service.h). */
#include "agent/agent.h"
#include "agent/link.h"
#include "coordinator/coordinator.h"
#include "net/proto.h"
#include "net/service.h"
#include "net/tokens.h"
#include "net/ws_client.h"
#include "net/ws_server.h"
#include "lua/script.h"
#include "core/clock.h"
#include "core/timeparse.h"

#include <getopt.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:7070"
#define WORKERS 4 /* mostly waiting: on script processes, scans, merges */

static struct service *the_service; /* for the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	if (the_service) {
		the_service->stop = 1;
		if (the_service->ctx)
			lws_cancel_service(the_service->ctx);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wispd standalone  [--listen HOST:PORT] [--hz N] [--ring-mb N] [--node NAME]\n"
		"       wispd coordinator [--listen HOST:PORT] [--node NAME]\n"
		"       wispd agent --coordinator ws[s]://HOST:PORT [--node NAME] [--hz N] [--ring-mb N]\n"
		"       wispd --version\n"
		"\n"
		"  standalone   agent + coordinator in one process (the default for one machine)\n"
		"  coordinator  accepts agents and clients, fans queries out, merges results\n"
		"  agent        samples this machine and answers the coordinator's queries\n"
		"\n"
		"  --listen HOST:PORT     websocket address (default " DEFAULT_LISTEN ")\n"
		"  --coordinator URL      coordinator to register with (agent mode)\n"
		"  --node NAME            node name (default: the host name)\n"
		"  --hz N                 samples per second per CPU (default 99)\n"
		"  --ring-mb N            memory budget of the sample ring in MiB (default 256)\n"
		"  --ringbuf-kb N         BPF ring buffer size in KiB, a power of two (default: 512 a\n"
		"                         CPU at 99 Hz, 1024 to 16384)\n"
		"  --include-idle         also sample the idle task\n"
		"  --unwind-mb N          budget of the unwind tables (walking stacks without frame\n"
		"                         pointers) in MiB of kernel memory (default 16; 0: frame\n"
		"                         pointers only)\n"
		"  --python on|off        name the frames of CPython 3.11 to 3.13 processes: function,\n"
		"                         file and line (default on; needs --unwind-mb > 0)\n"
		"  --offcpu on|off        record where threads wait off the CPU, and for how long, in the\n"
		"                         offcpu_samples table (default on; bpf source)\n"
		"  --offcpu-rate N        off-CPU periods sampled a second per CPU, at most; busier CPUs\n"
		"                         are sampled, each period weighted (default 250; 10 to 100000)\n"
		"  --offcpu-storm N       above N switches a second per CPU, the switch hook is attached\n"
		"                         a fifteenth of the time, its periods weighted for the rest\n"
		"                         (long waits then go unseen; default 50000; 0: always on)\n"
		"  --ring-share offcpu=P  percent of --ring-mb for offcpu_samples (default 25; 0 to 90)\n"
		"  --source SRC           where samples come from (agent, standalone):\n"
		"                         bpf (default): this machine, through eBPF\n"
		"                         synthetic:cpus=16,hz=99,stacks=5000,procs=200,threads=1000,seed=1,\n"
		"                           backfill=24h,speed=600  a deterministic busy node, for demos and tests\n"
		"                         replay:FILE[,FILE...]  snapshot files, read-only\n"
		"                         s3://BUCKET/PREFIX  this node's exports (wisp export), read-only\n"
		"  --cache-dir DIR        s3 source: where fetched exports are kept (default\n"
		"                         $WISP_CACHE_DIR, else /var/cache/wisp)\n"
		"  --cache-mb N           s3 source: the cache's budget in MiB (default 1024)\n"
		"  --export s3://BUCKET/PREFIX  continuous export (agent, standalone): each closed\n"
		"                         interval of the ring uploaded exactly once, across restarts\n"
		"  --export-every DUR     the interval (default 10m; at least 1s)\n"
		"  --idle-timeout S       close connections idle or mid-message for S seconds (default 30)\n"
		"  --receive-mb N         coordinator, standalone: agents' messages being received at once\n"
		"                         hold at most N MiB; an agent whose answer would pass it waits\n"
		"                         for room (default 256)\n"
		"  --tls-cert FILE        serve wss:// and https:// with this certificate (PEM; with --tls-key)\n"
		"  --tls-key FILE         ... and its private key (PEM)\n"
		"  --tls-ca FILE          agent: the CA certificates (PEM) a wss:// coordinator is verified\n"
		"                         against (default: the system's)\n"
		"  --token-file FILE      lines 'ROLE TOKEN' (roles agent, read, admin). Coordinator: a peer\n"
		"                         needs one of its tokens (Authorization: Bearer, or ?access_token=),\n"
		"                         reread when the file changes. Agent: registers with its agent token\n"
		"                         (or the file's only word)\n"
		"  --insecure             listen on a non-loopback address without TLS and tokens\n"
		"  --kube-pods URL|auto|off  where the pod, namespace and container names of the\n"
		"                         stack_samples columns come from: a PodList URL, e.g. the kubelet's\n"
		"                         https://NODE:10250/pods. auto (default): in a pod with a service\n"
		"                         account, the API server's pods of this --node; else off (container\n"
		"                         ids and pod uids from the cgroups only)\n"
		"  --kube-token FILE      bearer token for --kube-pods, reread at each fetch (default: the\n"
		"                         service account's, when there is one)\n"
		"  --kube-ca FILE         CA certificates (PEM) for --kube-pods (default with auto: the\n"
		"                         service account's; else the system's)\n"
		"  --version              print the version and exit\n"
		"  --verbose              log websocket internals\n");
}

struct flags {
	const char *mode;          /* "agent", "coordinator", "standalone" */
	char node[64];
	const char *listen, *coordinator, *source, *cache_dir, *export_url;
	const char *token_file;
	const char *kube_pods, *kube_token, *kube_ca;
	char kube_url[512];        /* --kube-pods auto, resolved */
	struct ws_tls tls;
	int64_t export_every_ns;
	int hz, ring_mb, ringbuf_kb, unwind_mb, idle_timeout_s, cache_mb, receive_mb;
	int offcpu_rate, offcpu_share, offcpu_storm;
	bool include_idle, verbose, python, insecure, offcpu;
};

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Resolves --kube-pods (auto: the API server, when this runs in a pod with a service account)
 * and the token's default. 0, or exit status 2 with a message. */
static int kube_flags(struct flags *f)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	bool in_pod = host && *host && access(SA_DIR "/token", R_OK) == 0;
	if (!strcmp(f->kube_pods, "off") || (!strcmp(f->kube_pods, "auto") && !in_pod)) {
		f->kube_pods = NULL;
	} else if (!strcmp(f->kube_pods, "auto")) {
		bool v6 = strchr(host, ':') != NULL;
		snprintf(f->kube_url, sizeof(f->kube_url), "https://%s%s%s:%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s",
			 v6 ? "[" : "", host, v6 ? "]" : "", port && *port ? port : "443", f->node);
		f->kube_pods = f->kube_url;
		if (!f->kube_ca)
			f->kube_ca = SA_DIR "/ca.crt";
	} else if (strncmp(f->kube_pods, "https://", 8) && strncmp(f->kube_pods, "http://", 7)) {
		fprintf(stderr, "wispd: --kube-pods must be an http(s):// URL, auto or off\n");
		return 2;
	}
	if (f->kube_pods && !f->kube_token && access(SA_DIR "/token", R_OK) == 0)
		f->kube_token = SA_DIR "/token";
	if (!f->kube_pods && (f->kube_token || f->kube_ca)) {
		fprintf(stderr, "wispd: --kube-token and --kube-ca go with --kube-pods URL\n");
		return 2;
	}
	return 0;
}

/* 0, or the exit status (usage printed) when the command line is wrong or asked for help. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},   {"coordinator", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},     {"hz", required_argument, NULL, 'z'},
		{"ring-mb", required_argument, NULL, 'r'},  {"ringbuf-kb", required_argument, NULL, 'b'},
		{"include-idle", no_argument, NULL, 'i'},   {"verbose", no_argument, NULL, 'v'},
		{"source", required_argument, NULL, 's'},   {"idle-timeout", required_argument, NULL, 't'},
		{"unwind-mb", required_argument, NULL, 'u'}, {"help", no_argument, NULL, 'h'},
		{"cache-dir", required_argument, NULL, 'd'}, {"cache-mb", required_argument, NULL, 'm'},
		{"export", required_argument, NULL, 'x'},   {"export-every", required_argument, NULL, 'e'},
		{"python", required_argument, NULL, 'p'},   {"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},  {"tls-ca", required_argument, NULL, 'A'},
		{"token-file", required_argument, NULL, 'T'}, {"insecure", no_argument, NULL, 'I'},
		{"kube-pods", required_argument, NULL, 'P'}, {"kube-token", required_argument, NULL, 'k'},
		{"kube-ca", required_argument, NULL, 'a'},  {"offcpu", required_argument, NULL, 'o'},
		{"offcpu-rate", required_argument, NULL, 'O'}, {"ring-share", required_argument, NULL, 'S'},
		{"receive-mb", required_argument, NULL, 'R'}, {"offcpu-storm", required_argument, NULL, 'W'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	*f = (struct flags){.listen = DEFAULT_LISTEN, .source = "bpf", .hz = 99, .ring_mb = 256, .ringbuf_kb = 0,
			    .unwind_mb = 16, .python = true, .export_every_ns = 600000000000LL, .kube_pods = "auto",
			    .offcpu = true, .offcpu_rate = 250, .offcpu_storm = 50000, .offcpu_share = 25, .receive_mb = 256};
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			usage(stdout);
			return -1;
		}
		if (argc >= 2 && !strcmp(argv[1], "--version")) {
			printf("wispd %s (protocol %s, libwebsockets %s)\n", proto_wisp_version(), PROTO_NAME,
			       lws_get_library_version());
			return -1;
		}
		usage(stderr);
		return 2;
	}
	f->mode = argv[1];
	if (strcmp(f->mode, "standalone") && strcmp(f->mode, "coordinator") && strcmp(f->mode, "agent")) {
		fprintf(stderr, "wispd: unknown mode '%s'\n", f->mode);
		usage(stderr);
		return 2;
	}
	gethostname(f->node, sizeof(f->node) - 1);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': f->listen = optarg; break;
		case 'c': f->coordinator = optarg; break;
		case 'n': snprintf(f->node, sizeof(f->node), "%s", optarg); break;
		case 'z': f->hz = atoi(optarg); break;
		case 'r': f->ring_mb = atoi(optarg); break;
		case 'b': f->ringbuf_kb = atoi(optarg); break;
		case 'u': f->unwind_mb = atoi(optarg); break;
		case 'i': f->include_idle = true; break;
		case 'v': f->verbose = true; break;
		case 's': f->source = optarg; break;
		case 't': f->idle_timeout_s = atoi(optarg); break;
		case 'R': f->receive_mb = atoi(optarg); break;
		case 'd': f->cache_dir = optarg; break;
		case 'm': f->cache_mb = atoi(optarg); break;
		case 'x': f->export_url = optarg; break;
		case 'C': f->tls.cert = optarg; break;
		case 'K': f->tls.key = optarg; break;
		case 'A': f->tls.ca = optarg; break;
		case 'T': f->token_file = optarg; break;
		case 'I': f->insecure = true; break;
		case 'P': f->kube_pods = optarg; break;
		case 'k': f->kube_token = optarg; break;
		case 'a': f->kube_ca = optarg; break;
		case 'p':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "wispd: --python must be on or off\n");
				return 2;
			}
			f->python = !strcmp(optarg, "on");
			break;
		case 'o':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "wispd: --offcpu must be on or off\n");
				return 2;
			}
			f->offcpu = !strcmp(optarg, "on");
			break;
		case 'O': f->offcpu_rate = atoi(optarg); break;
		case 'W': f->offcpu_storm = atoi(optarg); break;
		case 'S': {
			char *end = NULL;
			long v = strncmp(optarg, "offcpu=", 7) ? -1 : strtol(optarg + 7, &end, 10);
			if (v < 0 || v > 90 || !end || *end || end == optarg + 7) {
				fprintf(stderr, "wispd: --ring-share must be offcpu=P, P a percent from 0 to 90\n");
				return 2;
			}
			f->offcpu_share = (int)v;
			break;
		}
		case 'e':
			if (parse_duration(optarg, &f->export_every_ns) < 0 || f->export_every_ns < 1000000000LL) {
				fprintf(stderr, "wispd: --export-every must be a duration of at least 1s (10m, 1h)\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wispd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!strcmp(f->mode, "agent") && !f->coordinator) {
		fprintf(stderr, "wispd: agent mode needs --coordinator ws://HOST:PORT\n");
		return 2;
	}
	bool ringbuf_ok = !f->ringbuf_kb || (f->ringbuf_kb >= 4 && f->ringbuf_kb <= 1 << 21 && !(f->ringbuf_kb & (f->ringbuf_kb - 1)));
	if (f->ring_mb < 1 || f->ring_mb > 1 << 20 || !ringbuf_ok) {
		fprintf(stderr, "wispd: --ring-mb must be >= 1; --ringbuf-kb a power of two from 4 to 2097152\n");
		return 2;
	}
	if (f->unwind_mb < 0 || f->unwind_mb > 1024) {
		fprintf(stderr, "wispd: --unwind-mb must be 0 (frame pointers only) to 1024\n");
		return 2;
	}
	if (f->offcpu_storm < 0 || f->offcpu_storm > 100000000) {
		fprintf(stderr, "wispd: --offcpu-storm must be 0 to 100000000 switches a second per CPU\n");
		return 2;
	}
	if (f->offcpu_rate < 10 || f->offcpu_rate > 100000) {
		fprintf(stderr, "wispd: --offcpu-rate must be 10 to 100000 periods a second per CPU\n");
		return 2;
	}
	if (f->receive_mb < 1 || f->receive_mb > 65536) {
		fprintf(stderr, "wispd: --receive-mb must be 1 to 65536 MiB\n");
		return 2;
	}
	if (f->idle_timeout_s < 0 || f->idle_timeout_s > 86400) {
		fprintf(stderr, "wispd: --idle-timeout must be 1 to 86400 seconds\n");
		return 2;
	}
	if (!f->tls.cert != !f->tls.key) {
		fprintf(stderr, "wispd: --tls-cert and --tls-key go together\n");
		return 2;
	}
	bool agent = !strcmp(f->mode, "agent");
	if (agent && f->tls.cert) {
		fprintf(stderr, "wispd: an agent does not listen: --tls-cert and --tls-key are for the coordinator\n");
		return 2;
	}
	if (!agent && f->tls.ca) {
		fprintf(stderr, "wispd: --tls-ca is the CA an agent verifies its coordinator with (agent mode)\n");
		return 2;
	}
	if (!agent && !ws_listen_is_loopback(f->listen) && (!f->tls.cert || !f->token_file) && !f->insecure) {
		fprintf(stderr,
			"wispd: refusing to listen on %s without %s: anyone who reaches it could run scripts on every "
			"node. Give --tls-cert/--tls-key and --token-file, listen on 127.0.0.1, or pass --insecure\n",
			f->listen, !f->tls.cert && !f->token_file ? "TLS and tokens" : !f->tls.cert ? "TLS" : "tokens");
		return 2;
	}
	if (!f->node[0] || strlen(f->node) > 63) {
		fprintf(stderr, "wispd: --node must be 1 to 63 characters\n");
		return 2;
	}
	return kube_flags(f);
}

int main(int argc, char **argv)
{
	struct flags f;
	struct service svc = {0};
	struct agent *agent = NULL;
	struct coordinator *coord = NULL;
	struct agent_link *link = NULL;
	struct tokens *tokens = NULL;
	struct lws_protocols protocols[2] = {{0}};
	char err[512];
	int rc = 1;

	if (argc == 2 && !strcmp(argv[1], "--script-helper")) /* started by the coordinator's script pool */
		return script_helper_main();
	int bad = parse_flags(argc, argv, &f);
	if (bad)
		return bad < 0 ? 0 : bad;
	bool is_agent = strcmp(f.mode, "coordinator") != 0, is_coord = strcmp(f.mode, "agent") != 0;

	lws_set_log_level(f.verbose ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : LLL_ERR, ws_daemon_log);
	the_service = &svc;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	service_heap_init(is_agent);
	/* Thousands of connections need thousands of descriptors: take all the system allows. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	svc.started_ns = mono_now_ns();
	svc.inbox = inbox_new();
	svc.jobs = jobs_new(WORKERS);
	if (!svc.inbox || !svc.jobs) {
		fprintf(stderr, "wispd: out of memory\n");
		goto out;
	}
	/* The socket first (a port in use fails fast), then the ring and its source. */
	if (is_coord) {
		if (f.token_file && !(tokens = tokens_load(f.token_file, err, sizeof(err)))) {
			fprintf(stderr, "wispd: %s\n", err);
			goto out;
		}
		if (!(coord = coordinator_new(&svc, f.node, f.idle_timeout_s, "/proc/self/exe"))) {
			fprintf(stderr, "wispd: out of memory\n");
			goto out;
		}
		coordinator_set_tokens(coord, tokens);
		coordinator_set_receive_budget(coord, (size_t)f.receive_mb << 20);
		coordinator_protocol(coord, &protocols[0]);
	} else {
		if (!(link = agent_link_new(&svc, f.coordinator, f.token_file, err, sizeof(err)))) {
			fprintf(stderr, "wispd: %s\n", err);
			goto out;
		}
		agent_link_protocol(link, &protocols[0]);
	}
	if (!(svc.ctx = ws_server_context(is_coord ? f.listen : NULL, protocols, &svc, &f.tls, err, sizeof(err)))) {
		fprintf(stderr, "wispd: %s\n", err);
		goto out;
	}
	inbox_set_context(svc.inbox, svc.ctx);
	if (is_agent) {
		struct agent_config ac = {f.node, (size_t)f.ring_mb << 20, f.source,
					  {f.hz, (size_t)f.ringbuf_kb << 10, f.include_idle, (uint32_t)f.unwind_mb, f.python, f.node,
					   f.cache_dir, (size_t)(f.cache_mb > 0 ? f.cache_mb : 0) << 20,
					   {f.kube_pods, f.kube_token, f.kube_ca, NULL}, f.offcpu, (uint32_t)f.offcpu_rate,
					   (uint32_t)f.offcpu_storm},
					  f.export_url, f.export_every_ns, f.offcpu_share};
		if (!(agent = agent_new(&ac, err, sizeof(err)))) {
			fprintf(stderr, "wispd: %s\n", err);
			goto out;
		}
	}
	if (coord) {
		coordinator_set_local(coord, agent);
		coordinator_start(coord);
	}
	if (link)
		agent_link_start(link, agent);
	if (is_coord)
		fprintf(stderr, "wispd: %s node %s listening on %s://%s%s%s\n", f.mode, f.node, f.tls.cert ? "wss" : "ws",
			f.listen, is_agent ? "" : " (no local agent)",
			tokens ? "; a token is needed" : "; no token is needed (no --token-file)");
	else
		fprintf(stderr, "wispd: agent node %s sampling at %d Hz, coordinator %s\n", f.node, f.hz, f.coordinator);
	if (is_agent)
		fprintf(stderr, "wispd: source %s into a %d MiB ring%s\n", f.source, f.ring_mb,
			strcmp(f.source, "bpf") ? "" : " (eBPF, every CPU)");

	while (!svc.stop)
		if (lws_service(svc.ctx, 0) < 0)
			break;
	fprintf(stderr, "wispd: shutting down\n");
	rc = 0;
out:
	/* Shutdown order: stop producers, finish tasks, run their completions (new tasks are
	 * refused now), stop timers and drop queries, close sockets (the parts still take the closing
	 * callbacks; sessions free their buffers), then free what is left. */
	svc.stop = 1;
	agent_stop_source(agent);
	jobs_free(svc.jobs);
	svc.jobs = NULL;
	if (svc.ctx)
		inbox_drain(svc.inbox);
	agent_link_stop(link);
	coordinator_stop(coord);
	if (svc.ctx)
		lws_context_destroy(svc.ctx);
	agent_link_free(link);
	coordinator_free(coord);
	inbox_free(svc.inbox);
	agent_free(agent);
	tokens_free(tokens);
	return rc;
}
