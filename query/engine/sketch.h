/* sketch.h - quantile sketch buckets (see sketch.c): the bucket key of x, and the value a key
 * stands for. A quantile read from merged bucket counts is within QUANTILE_ERROR (relative) of
 * the true one. */
#ifndef WISP_SKETCH_H
#define WISP_SKETCH_H

#include <stdint.h>

#define QUANTILE_ERROR 0.01
int64_t quantile_bucket(double x);
double quantile_value(int64_t key);

#endif
