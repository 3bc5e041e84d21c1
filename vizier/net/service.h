/* service.h - how a wispd process does slow work without blocking its sockets. One lws service
 * thread alone touches sockets, timers and query bookkeeping; worker threads (jobs) run slow
 * work (compiling a script, scanning the ring, merging results); an inbox carries each job's
 * completion back to the service thread. A job posts its completion with inbox_post(); the
 * service thread runs completions when woken (LWS_CALLBACK_EVENT_WAIT_CANCELLED ->
 * inbox_drain). struct service bundles them for the parts of the daemon (agent link,
 * coordinator), and is the lws context's user pointer. */
#ifndef WISP_SERVICE_H
#define WISP_SERVICE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct lws_context;
struct jobs;
struct inbox;

struct service {
	struct lws_context *ctx;    /* the process's lws context (set once it exists) */
	struct jobs *jobs;          /* worker threads; NULL once shutting down */
	struct inbox *inbox;        /* completions for the service thread */
	volatile sig_atomic_t stop; /* shutting down: no new work, no reconnecting */
	bool freed;                 /* service thread: memory freed since the last trim */
	bool freed_lately;          /* ... since the last service_trim call */
	int working;                /* service thread: queries begun and not ended */
	int busy_periods;           /* service_trim calls since the last trim, all busy */
	int64_t started_ns;         /* CLOCK_MONOTONIC */
};

typedef void (*task_fn)(void *arg);

/* Worker pool: nthreads threads run submitted tasks in order of submission. With nthreads 0,
 * jobs_submit runs each task itself before returning (fuzzers and tests: one thread, one
 * order). NULL when no thread could start. */
struct jobs *jobs_new(int nthreads);
/* -1 (and fn never runs) when out of memory or when j is NULL (the pool is gone). */
int jobs_submit(struct jobs *j, task_fn fn, void *arg);
/* Runs fn(arg) once on every worker thread, each before its next queued task, then done(arg)
 * once on the worker that finished last (with nthreads 0: both at once). One round at a time:
 * the caller waits for done before the next. -1 (and nothing runs) when j is NULL. */
int jobs_each(struct jobs *j, task_fn fn, task_fn done, void *arg);
/* Waits for running and queued tasks, then stops the threads. */
void jobs_free(struct jobs *j);

/* The process's heaps (before any thread starts): freed blocks of up to 128 MiB stay in each
 * heap for the next query; one_heap makes every thread allocate from one heap (agents). */
void service_heap_init(bool one_heap);
/* Giving freed query memory back. Each heap keeps freed blocks for the next query
 * (service_heap_init); without trimming, a burst of concurrent queries stays
 * resident (10 concurrent flamegraphs over 100 agents left the coordinator at 1.2 GiB; trimmed,
 * 104 MiB). On the service thread: service_memory_freed when a query's memory (or a connection's)
 * was freed, and service_work_begin and service_work_end around each query (end also counts as
 * memory freed); service_trim from a periodic timer (the coordinator's sweep each second, the
 * agent's heartbeat every 2 s) then trims every heap (a round on the workers, each giving back
 * its own heap's top, then malloc_trim) once a whole period went
 * by with no query running and no memory freed, or after TRIM_BUSY_PERIODS busy periods back to
 * back. Trimming each period under load made every query fault its pages in again: page faults
 * and madvise took a quarter of the CPU of the 100-agent soak (2026-12-07). Before queries in
 * flight were counted, a period in which queries ran but none ended counted as quiet; with that
 * and the ring's trim on every snapshot's flush (ring.h), each of the soak's agents on two loaded
 * cores still trimmed about every 5 s. */
void service_memory_freed(struct service *svc);
void service_work_begin(struct service *svc);
void service_work_end(struct service *svc);
void service_trim(struct service *svc);

struct inbox *inbox_new(void);
void inbox_set_context(struct inbox *ib, struct lws_context *ctx);
/* From any thread: queue fn(arg) for the service thread and wake it. */
int inbox_post(struct inbox *ib, task_fn fn, void *arg);
/* On the service thread: run every queued completion. */
void inbox_drain(struct inbox *ib);
void inbox_free(struct inbox *ib);

#endif
