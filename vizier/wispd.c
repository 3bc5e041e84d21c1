/* wispd.c - the Wisp daemon: argument parsing and the wiring of one process.
 *
 *   wispd standalone  [--listen HOST:PORT] [--hz N] [--ring-mb N] [--node NAME]
 *   wispd coordinator [--listen HOST:PORT] [--node NAME]
 *   wispd agent --coordinator ws://HOST:PORT [--node NAME] [--hz N] [--ring-mb N]
 *   (agent and standalone) --source bpf | synthetic:SPEC | replay:FILE[,FILE...]
 *
 * Threads: the lws service thread (sockets, timers, query bookkeeping), the collector's drain
 * thread (BPF -> ring) and a small worker pool (scripts, scans, merges). */
#include "wispd.h"
#include "core/clock.h"
#include "collector.h"
#include "jobs.h"
#include "synth_source.h"
#include "ring/snapshot.h"
#include "core/qctx.h"
#include "ring/ring.h"
#include "lua/script.h"

#include <getopt.h>
#include <malloc.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:7070"

static struct wispd *the_daemon; /* for the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	if (the_daemon) {
		the_daemon->stop = 1;
		if (the_daemon->ctx)
			lws_cancel_service(the_daemon->ctx);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wispd standalone  [--listen HOST:PORT] [--hz N] [--ring-mb N] [--node NAME]\n"
		"       wispd coordinator [--listen HOST:PORT] [--node NAME]\n"
		"       wispd agent --coordinator ws://HOST:PORT [--node NAME] [--hz N] [--ring-mb N]\n"
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
		"  --ringbuf-kb N         BPF ring buffer size in KiB (default 8192)\n"
		"  --include-idle         also sample the idle task\n"
		"  --source SRC           where samples come from (agent, standalone):\n"
		"                         bpf (default): this machine, through eBPF\n"
		"                         synthetic:cpus=16,hz=99,stacks=5000,procs=200,threads=1000,seed=1,\n"
		"                           backfill=24h,speed=600  a deterministic busy node, for demos and tests\n"
		"                         replay:FILE[,FILE...]  snapshot files, read-only\n"
		"  --verbose              log websocket internals\n");
}

/* "HOST:PORT" -> lws interface + port. 127.0.0.1/localhost bind the loopback interface only. */
static int parse_listen(const char *s, char *iface, size_t ifl, int *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return -1;
	*port = atoi(colon + 1);
	if (*port <= 0 || *port > 65535)
		return -1;
	snprintf(iface, ifl, "%.*s", (int)(colon - s), s);
	if (!strcmp(iface, "127.0.0.1") || !strcmp(iface, "localhost"))
		snprintf(iface, ifl, "lo");
	else if (!strcmp(iface, "0.0.0.0") || !strcmp(iface, "*"))
		iface[0] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},   {"coordinator", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},     {"hz", required_argument, NULL, 'z'},
		{"ring-mb", required_argument, NULL, 'r'},  {"ringbuf-kb", required_argument, NULL, 'b'},
		{"include-idle", no_argument, NULL, 'i'},   {"verbose", no_argument, NULL, 'v'},
		{"source", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	const char *listen_addr = DEFAULT_LISTEN, *coord_url = NULL, *source = "bpf";
	struct synth_source *synth = NULL;
	struct wispd d = {0};
	int hz = 99, ring_mb = 256, ringbuf_kb = 8192, verbose = 0, include_idle = 0, rc = 1, opt;
	char err[512];

	if (argc == 2 && !strcmp(argv[1], "--script-helper")) /* started by the coordinator's script pool */
		return script_helper_main();
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	snprintf(d.mode, sizeof(d.mode), "%s", argv[1]);
	if (strcmp(d.mode, "standalone") && strcmp(d.mode, "coordinator") && strcmp(d.mode, "agent")) {
		fprintf(stderr, "wispd: unknown mode '%s'\n", d.mode);
		usage(stderr);
		return 2;
	}
	gethostname(d.node, sizeof(d.node) - 1);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_addr = optarg; break;
		case 'c': coord_url = optarg; break;
		case 'n': snprintf(d.node, sizeof(d.node), "%s", optarg); break;
		case 'z': hz = atoi(optarg); break;
		case 'r': ring_mb = atoi(optarg); break;
		case 'b': ringbuf_kb = atoi(optarg); break;
		case 'i': include_idle = 1; break;
		case 'v': verbose = 1; break;
		case 's': source = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wispd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	bool is_agent = strcmp(d.mode, "coordinator") != 0, is_coord = strcmp(d.mode, "agent") != 0;
	if (!strcmp(d.mode, "agent") && !coord_url) {
		fprintf(stderr, "wispd: agent mode needs --coordinator ws://HOST:PORT\n");
		return 2;
	}
	if (ring_mb < 1 || ring_mb > 1 << 20 || ringbuf_kb < 4 || (ringbuf_kb & (ringbuf_kb - 1))) {
		fprintf(stderr, "wispd: --ring-mb must be >= 1; --ringbuf-kb a power of two >= 4\n");
		return 2;
	}
	if (!d.node[0] || strlen(d.node) > 63) {
		fprintf(stderr, "wispd: --node must be 1 to 63 characters\n");
		return 2;
	}

	lws_set_log_level(verbose ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : LLL_ERR, NULL);
	the_daemon = &d;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* Query columns are megabytes each: serve them from the heap, where the next query reuses the
	 * pages, instead of fresh mappings that fault in every page again. The ring trims the heap
	 * after each seal, so idle memory still goes back. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	d.started_ns = mono_now_ns();
	d.inbox = inbox_new();
	d.jobs = jobs_new(4); /* mostly waiting: on script processes, scans, merges */
	if (!d.inbox || !d.jobs) {
		fprintf(stderr, "wispd: out of memory\n");
		goto out;
	}

	struct lws_protocols protocols[2] = {is_coord ? coordinator_protocol : agent_link_protocol,
					      {NULL, NULL, 0, 0, 0, NULL, 0}};
	struct lws_context_creation_info info = {0};
	char iface[128] = "";
	int port = CONTEXT_PORT_NO_LISTEN;
	if (is_coord && parse_listen(listen_addr, iface, sizeof(iface), &port) < 0) {
		fprintf(stderr, "wispd: --listen expects HOST:PORT, got '%s'\n", listen_addr);
		goto out;
	}
	info.port = port;
	info.iface = iface[0] ? iface : NULL;
	info.protocols = protocols;
	info.user = &d;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (is_coord && !(d.coord = coordinator_new(&d))) {
		fprintf(stderr, "wispd: out of memory\n");
		goto out;
	}
	if (!(d.ctx = lws_create_context(&info))) {
		fprintf(stderr, "wispd: cannot listen on %s (address in use, or not a local address?)\n",
			listen_addr);
		goto out;
	}
	inbox_set_context(d.inbox, d.ctx);

	if (is_agent) {
		struct ring_config rc_cfg = {(size_t)ring_mb << 20, d.node, 0};
		struct collector_config cc = {hz, (size_t)ringbuf_kb << 10, include_idle};
		if (!(d.ring = ring_new(&rc_cfg))) {
			fprintf(stderr, "wispd: cannot allocate the ring\n");
			goto out;
		}
		if (!strcmp(source, "bpf")) {
			if (!(d.collector = collector_start(&cc, d.ring, err, sizeof(err)))) {
				fprintf(stderr, "wispd: %s\n", err);
				goto out;
			}
		} else if (!strncmp(source, "synthetic:", 10) || !strcmp(source, "synthetic")) {
			if (!(synth = synth_source_start(source[9] ? source + 10 : "", d.ring, err, sizeof(err)))) {
				fprintf(stderr, "wispd: %s\n", err);
				goto out;
			}
		} else if (!strncmp(source, "replay:", 7)) {
			char files[4096];
			snprintf(files, sizeof(files), "%s", source + 7);
			for (char *save, *f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save))
				if (ring_load_snapshot_file(d.ring, f, err, sizeof(err)) < 0) {
					fprintf(stderr, "wispd: %s\n", err);
					goto out;
				}
		} else {
			fprintf(stderr, "wispd: --source must be bpf, synthetic:SPEC or replay:FILE[,FILE...]\n");
			goto out;
		}
	}
	if (!strcmp(d.mode, "agent") && !agent_link_start(&d, coord_url, err, sizeof(err))) {
		fprintf(stderr, "wispd: %s\n", err);
		goto out;
	}
	if (is_coord)
		fprintf(stderr, "wispd: %s node %s listening on ws://%s%s\n", d.mode, d.node, listen_addr,
			is_agent ? "" : " (no local agent)");
	else
		fprintf(stderr, "wispd: agent node %s sampling at %d Hz, coordinator %s\n", d.node, hz, coord_url);
	if (is_agent)
		fprintf(stderr, "wispd: source %s into a %d MiB ring%s\n", source, ring_mb,
			strcmp(source, "bpf") ? "" : " (eBPF, every CPU)");

	while (!d.stop)
		if (lws_service(d.ctx, 0) < 0)
			break;
	fprintf(stderr, "wispd: shutting down\n");
	rc = 0;
out:
	/* Shutdown order: stop producers, finish tasks, run their completions (new tasks are
	 * refused now), close sockets (sessions free their buffers), then free what is left. */
	d.stop = 1;
	collector_stop(d.collector);
	d.collector = NULL;
	synth_source_stop(synth);
	jobs_free(d.jobs);
	d.jobs = NULL;
	if (d.ctx)
		inbox_drain(d.inbox);
	agent_link_free(d.link);
	if (d.ctx)
		lws_context_destroy(d.ctx);
	coordinator_free(d.coord);
	d.coord = NULL;
	inbox_free(d.inbox);
	ring_free(d.ring);
	return rc;
}
