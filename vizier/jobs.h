/* jobs.h - worker threads for slow work (running a Lua script, scanning the ring, merging
 * results) and the inbox that carries their completions back to the lws service thread, which
 * alone may touch sockets. A job posts its completion with inbox_post(); the service thread runs
 * completions when woken (LWS_CALLBACK_EVENT_WAIT_CANCELLED -> inbox_drain). */
#ifndef WISP_JOBS_H
#define WISP_JOBS_H

struct lws_context;
struct jobs;
struct inbox;

typedef void (*task_fn)(void *arg);

/* Worker pool: nthreads threads run submitted tasks in order of submission. */
struct jobs *jobs_new(int nthreads);
/* -1 (and fn never runs) when out of memory or when j is NULL (the pool is gone). */
int jobs_submit(struct jobs *j, task_fn fn, void *arg);
/* Waits for running and queued tasks, then stops the threads. */
void jobs_free(struct jobs *j);

struct inbox *inbox_new(void);
void inbox_set_context(struct inbox *ib, struct lws_context *ctx);
/* From any thread: queue fn(arg) for the service thread and wake it. */
int inbox_post(struct inbox *ib, task_fn fn, void *arg);
/* On the service thread: run every queued completion. */
void inbox_drain(struct inbox *ib);
void inbox_free(struct inbox *ib);

#endif
