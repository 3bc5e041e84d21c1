/* catalog.c - table schemas (see catalog.h). */
#include "catalog.h"

#include <string.h>

static struct column stack_samples_cols[SS_NCOLS] = {
	[SS_TIME] = {"time_", VT_TIME, {0}},     [SS_NODE] = {"node", VT_STRING, {0}},
	[SS_PID] = {"pid", VT_INT, {0}},         [SS_TID] = {"tid", VT_INT, {0}},
	[SS_CPU] = {"cpu", VT_INT, {0}},         [SS_COMM] = {"comm", VT_STRING, {0}},
	[SS_CGROUP] = {"cgroup", VT_INT, {0}},   [SS_STACK] = {"stack", VT_STACK, {0}},
	[SS_COUNT] = {"count", VT_INT, {0}},
};

static struct table stack_samples = {"stack_samples", SS_NCOLS, stack_samples_cols, 0, 0, true};

static struct column ring_stats_cols[RS_NCOLS] = {
	[RS_NODE] = {"node", VT_STRING, {0}},       [RS_TABLE] = {"table", VT_STRING, {0}},
	[RS_BYTES] = {"bytes", VT_INT, {0}},        [RS_BUDGET] = {"budget", VT_INT, {0}},
	[RS_ROWS] = {"rows", VT_INT, {0}},          [RS_SAMPLES] = {"samples", VT_INT, {0}},
	[RS_OLDEST] = {"oldest", VT_TIME, {0}},     [RS_NEWEST] = {"newest", VT_TIME, {0}},
	[RS_EVICTED_ROWS] = {"evicted_rows", VT_INT, {0}},
	[RS_EVICTED_SAMPLES] = {"evicted_samples", VT_INT, {0}},
	[RS_COMPRESSION] = {"compression", VT_FLOAT, {0}},
	[RS_BATCHES] = {"batches", VT_INT, {0}},    [RS_STACKS] = {"stacks", VT_INT, {0}},
	[RS_THREADS] = {"threads", VT_INT, {0}},
};

static struct table ring_stats = {"ring_stats", RS_NCOLS, ring_stats_cols, 0, 0, true};

const struct table *catalog_schema(const char *name)
{
	if (name && strcmp(name, "stack_samples") == 0)
		return &stack_samples;
	if (name && strcmp(name, "ring_stats") == 0)
		return &ring_stats;
	return NULL;
}

bool catalog_is_timeseries(const char *name)
{
	return name && strcmp(name, "stack_samples") == 0;
}

const char *catalog_names(void)
{
	return "stack_samples, ring_stats";
}
