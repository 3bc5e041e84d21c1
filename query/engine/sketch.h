/* sketch.h - quantile sketch buckets (see sketch.c): the bucket key of x, for qbucket() in
 * expressions. A quantile read from merged bucket counts is within QUANTILE_ERROR (relative) of
 * the true one. */
#ifndef WISP_SKETCH_H
#define WISP_SKETCH_H

#include <stdint.h>

#define QUANTILE_ERROR 0.01
int64_t quantile_bucket(double x);

#endif
