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
	int nthreads;
	pthread_t threads[];
};

static void *worker(void *arg)
{
	struct jobs *j = arg;
	pthread_mutex_lock(&j->lock);
	for (;;) {
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

static atomic_bool trim_queued; /* process-wide, as the heap is */

static void trim(void *unused)
{
	(void)unused;
	atomic_store(&trim_queued, false);
	malloc_trim(0);
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
	if (!atomic_exchange(&trim_queued, true) && jobs_submit(svc->jobs, trim, NULL) < 0)
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
