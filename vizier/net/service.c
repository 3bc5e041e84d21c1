/* service.c - worker pool and service-thread inbox (see service.h). */
#include "service.h"

#include <libwebsockets.h>
#include <assert.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct task {
	struct task *next;
	task_fn fn;
	void *arg;
};

struct task_queue {
	struct task *head, *tail;
};

static void queue_push(struct task_queue *q, struct task *t)
{
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
}

static struct task *queue_pop(struct task_queue *q)
{
	struct task *t = q->head;
	if (t) {
		q->head = t->next;
		if (!q->head)
			q->tail = NULL;
	}
	return t;
}

struct jobs {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task_queue queue;
	bool stopping;
	/* jobs_each's round: each worker runs each_fn once when its seen round differs from
	 * each_round; the one that brings each_left to 0 runs each_done. */
	unsigned each_round;
	int each_left;
	task_fn each_fn, each_done;
	void *each_arg;
	int nthreads;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct jobs *j = arg;
	unsigned seen = 0; /* each_round starts at 0 */
	pthread_mutex_lock(&j->lock);
	for (;;) {
		if (seen != j->each_round) {
			seen = j->each_round;
			task_fn fn = j->each_fn, done = j->each_done;
			void *each_arg = j->each_arg;
			pthread_mutex_unlock(&j->lock);
			fn(each_arg);
			pthread_mutex_lock(&j->lock);
			assert(j->each_left > 0);
			if (--j->each_left == 0) {
				pthread_mutex_unlock(&j->lock);
				done(each_arg);
				pthread_mutex_lock(&j->lock);
			}
			continue;
		}
		struct task *t = queue_pop(&j->queue);
		if (!t) {
			if (j->stopping)
				break;
			pthread_cond_wait(&j->cond, &j->lock);
			continue;
		}
		pthread_mutex_unlock(&j->lock);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

struct jobs *jobs_new(int nthreads)
{
	struct jobs *j = calloc(1, sizeof(*j) + nthreads * sizeof(pthread_t));
	if (!j)
		return NULL;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	for (; j->nthreads < nthreads; j->nthreads++)
		if (pthread_create(&j->threads[j->nthreads], NULL, worker, j) != 0)
			break;
	if (nthreads > 0 && j->nthreads == 0) {
		jobs_free(j);
		return NULL;
	}
	return j;
}

int jobs_submit(struct jobs *j, task_fn fn, void *arg)
{
	struct task *t = j ? malloc(sizeof(*t)) : NULL; /* no pool: shutting down */
	if (!t)
		return -1;
	if (j->nthreads == 0) { /* inline */
		free(t);
		fn(arg);
		return 0;
	}
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&j->lock);
	queue_push(&j->queue, t);
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return 0;
}

int jobs_each(struct jobs *j, task_fn fn, task_fn done, void *arg)
{
	if (!j)
		return -1;
	if (j->nthreads == 0) { /* inline */
		fn(arg);
		done(arg);
		return 0;
	}
	pthread_mutex_lock(&j->lock);
	assert(j->each_left == 0); /* one round at a time */
	j->each_fn = fn;
	j->each_done = done;
	j->each_arg = arg;
	j->each_left = j->nthreads;
	j->each_round++;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return 0;
}

void jobs_free(struct jobs *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	for (int i = 0; i < j->nthreads; i++)
		pthread_join(j->threads[i], NULL);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

/* Freed blocks a heap keeps for the next query: above this, a free gives the heap's top back. */
#define HEAP_KEEP (128 << 20)

void service_heap_init(bool one_heap)
{
	/* Query columns are megabytes each: serve them from the heap, where the next query reuses
	 * the pages, instead of fresh mappings that fault in every page again. Trimming (below)
	 * still gives idle memory back. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, HEAP_KEEP);
	/* One heap for every thread (agents): with glibc's default of a heap per thread, each query
	 * worker's heap stepped up as queries grew it, and the soak's agents rested at 45 MiB each;
	 * with one heap, 19 MiB. Their queries took about 4 % longer (two clients' top_functions
	 * and flamegraph over 2 h of a 16-CPU synthetic node, by hand); small allocations still come
	 * from each thread's cache without the heap's lock. Not the coordinator: it merges gigabytes
	 * four at a time, and its websocket thread must not wait on a worker's heap lock. */
	if (one_heap)
		mallopt(M_ARENA_MAX, 1);
}

static atomic_bool trim_queued; /* process-wide, as the heap is; true until a trim's round ends */

/* Runs on each worker. malloc_trim gives back the free blocks of every heap but the free top of
 * the main heap only; a worker's heap gives its top back on a free of 64 KiB or more, and only
 * above M_TRIM_THRESHOLD. With the threshold at 0 for the round (trim), this free gives back
 * the top of the heap this thread allocates from. Without it, the coordinator's four worker
 * heaps kept 14-16 MiB each after a load (2026-12-07). */
static void shrink_own_heap(void *unused)
{
	(void)unused;
	void *volatile block = malloc(256 << 10); /* volatile: the pair must not be optimized out */
	free(block);
}

static void trim_done(void *unused)
{
	(void)unused;
	mallopt(M_TRIM_THRESHOLD, HEAP_KEEP);
	malloc_trim(0);
	atomic_store(&trim_queued, false);
}

static void trim(void *arg)
{
	mallopt(M_TRIM_THRESHOLD, 0);
	if (jobs_each(arg, shrink_own_heap, trim_done, NULL) < 0)
		trim_done(NULL);
}

#define TRIM_BUSY_PERIODS 30

void service_memory_freed(struct service *svc)
{
	svc->freed = svc->freed_lately = true;
}

void service_work_begin(struct service *svc)
{
	svc->working++;
}

void service_work_end(struct service *svc)
{
	assert(svc->working > 0);
	svc->working--;
	service_memory_freed(svc);
}

void service_trim(struct service *svc)
{
	bool busy = svc->freed_lately || svc->working > 0;
	svc->freed_lately = false;
	if (!svc->freed || (busy && ++svc->busy_periods < TRIM_BUSY_PERIODS))
		return;
	svc->freed = false;
	svc->busy_periods = 0;
	if (!atomic_exchange(&trim_queued, true) && jobs_submit(svc->jobs, trim, svc->jobs) < 0)
		atomic_store(&trim_queued, false);
}

struct inbox {
	pthread_mutex_t lock;
	struct task_queue queue;
	struct lws_context *ctx;
};

struct inbox *inbox_new(void)
{
	struct inbox *ib = calloc(1, sizeof(*ib));
	if (ib)
		pthread_mutex_init(&ib->lock, NULL);
	return ib;
}

void inbox_set_context(struct inbox *ib, struct lws_context *ctx)
{
	ib->ctx = ctx;
}

int inbox_post(struct inbox *ib, task_fn fn, void *arg)
{
	struct task *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&ib->lock);
	queue_push(&ib->queue, t);
	pthread_mutex_unlock(&ib->lock);
	if (ib->ctx)
		lws_cancel_service(ib->ctx);
	return 0;
}

void inbox_drain(struct inbox *ib)
{
	for (;;) {
		pthread_mutex_lock(&ib->lock);
		struct task *t = queue_pop(&ib->queue);
		pthread_mutex_unlock(&ib->lock);
		if (!t)
			return;
		t->fn(t->arg);
		free(t);
	}
}

void inbox_free(struct inbox *ib)
{
	if (!ib)
		return;
	struct task *t;
	while ((t = queue_pop(&ib->queue)) != NULL)
		free(t);
	pthread_mutex_destroy(&ib->lock);
	free(ib);
}
