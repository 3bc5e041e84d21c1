/* sketch.c - the mergeable quantile sketch behind px.quantiles: values fall into logarithmic
 * buckets (qbucket() in expressions), agents sum (key, bucket) weights like any other aggregate,
 * and QUANTILES reads p50/p90/p99 from the merged histogram. The relative error is bounded by
 * the bucket ratio, whatever was merged. */
#include "ops.h"
#include "batch.h"
#include "sketch.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* Log buckets of ratio GAMMA = (1 + A) / (1 - A), A = QUANTILE_ERROR: every value in bucket k
 * (GAMMA^(k-1), GAMMA^k] is within relative error A of the bucket's representative
 * 2 GAMMA^k / (GAMMA + 1). Keys: 0 for zero (and NaN), OFFSET + k for x > 0, -(OFFSET + k) for
 * x < 0, so keys sort in value order. */
#define QB_OFFSET 100000
static double log_gamma;
static pthread_once_t log_gamma_once = PTHREAD_ONCE_INIT;

static void log_gamma_init(void)
{
	log_gamma = log((1.0 + QUANTILE_ERROR) / (1.0 - QUANTILE_ERROR));
}

static double qb_log_gamma(void)
{
	pthread_once(&log_gamma_once, log_gamma_init);
	return log_gamma;
}

int64_t quantile_bucket(double x)
{
	if (!(x == x) || x == 0)
		return 0;
	double ax = fabs(x);
	int64_t k = (int64_t)ceil(log(ax) / qb_log_gamma());
	if (k < -QB_OFFSET + 1)
		k = -QB_OFFSET + 1;
	if (k > QB_OFFSET * 10)
		k = QB_OFFSET * 10;
	return x > 0 ? QB_OFFSET + k : -(QB_OFFSET + k);
}

/* The value bucket key stands for. */
static double quantile_value(int64_t key)
{
	if (key == 0)
		return 0;
	double g = exp(qb_log_gamma());
	int64_t k = (key > 0 ? key : -key) - QB_OFFSET;
	double v = 2.0 * pow(g, (double)k) / (g + 1.0);
	return key > 0 ? v : -v;
}

/* Quantiles from a histogram: rows (keys, bucket, weight) sorted by keys then bucket; per key
 * group, the q-quantile is the first bucket whose cumulative weight reaches q x the total. */
struct table *op_quantiles(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	struct sort_keys s = {.t = in, .nkeys = n->nexprs + 1};
	for (int k = 0; k < n->nexprs; k++)
		s.cols[k] = table_find(in, n->names[k]);
	s.cols[n->nexprs] = table_find(in, n->qbucket);
	int wc = table_find(in, n->qweight);
	uint32_t *perm = malloc((in->nrows ? in->nrows : 1) * sizeof(*perm));
	struct table *out = table_sized(q, n->schema, in->nrows);
	if (!perm || !out) {
		free(perm);
		table_free(out);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < in->nrows; i++)
		perm[i] = (uint32_t)i;
	qsort_r(perm, in->nrows, sizeof(*perm), sort_keys_cmp, &s);
	static const double qs[3] = {0.5, 0.9, 0.99};
	const int64_t *bucket = in->cols[s.cols[n->nexprs]].v.i, *w = in->cols[wc].v.i;
	for (size_t i = 0; i < in->nrows;) {
		size_t j = i;
		int64_t total = 0;
		for (; j < in->nrows; j++) {
			bool same = true;
			for (int k = 0; k < n->nexprs && same; k++) {
				const struct column *c = &in->cols[s.cols[k]];
				same = value_eq(c->type, &c->v, perm[i], &c->v, perm[j]);
			}
			if (!same)
				break;
			total += w[perm[j]] > 0 ? w[perm[j]] : 0;
		}
		size_t r = out->nrows++;
		for (int k = 0; k < n->nexprs; k++)
			value_copy(&out->cols[k], r, &in->cols[s.cols[k]], perm[i]);
		for (int qi = 0; qi < 3; qi++) {
			double need = qs[qi] * (double)total;
			int64_t cum = 0, key = 0;
			for (size_t x = i; x < j; x++) {
				cum += w[perm[x]] > 0 ? w[perm[x]] : 0;
				key = bucket[perm[x]];
				if ((double)cum >= need)
					break;
			}
			out->cols[n->nexprs + qi].v.f[r] = quantile_value(key);
		}
		i = j;
	}
	free(perm);
	return out;
}
