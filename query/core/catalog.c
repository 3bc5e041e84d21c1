/* catalog.c - the tables scripts read, one entry each (see catalog.h). */
#include "catalog.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct column stack_samples_cols[SS_NCOLS] = {
	[SS_TIME] = {"time_", VT_TIME, {0}},     [SS_NODE] = {"node", VT_STRING, {0}},
	[SS_PID] = {"pid", VT_INT, {0}},         [SS_TID] = {"tid", VT_INT, {0}},
	[SS_CPU] = {"cpu", VT_INT, {0}},         [SS_COMM] = {"comm", VT_STRING, {0}},
	[SS_CGROUP] = {"cgroup", VT_INT, {0}},   [SS_CONTAINER] = {"container", VT_STRING, {0}},
	[SS_POD] = {"pod", VT_STRING, {0}},      [SS_NAMESPACE] = {"namespace", VT_STRING, {0}},
	[SS_STACK] = {"stack", VT_STACK, {0}},
	[SS_COUNT] = {"count", VT_INT, {0}},
};

static struct column offcpu_samples_cols[OC_NCOLS] = {
	[OC_TIME] = {"time_", VT_TIME, {0}},     [OC_NODE] = {"node", VT_STRING, {0}},
	[OC_PID] = {"pid", VT_INT, {0}},         [OC_TID] = {"tid", VT_INT, {0}},
	[OC_STATE] = {"state", VT_STRING, {0}},  [OC_COMM] = {"comm", VT_STRING, {0}},
	[OC_CGROUP] = {"cgroup", VT_INT, {0}},   [OC_CONTAINER] = {"container", VT_STRING, {0}},
	[OC_POD] = {"pod", VT_STRING, {0}},      [OC_NAMESPACE] = {"namespace", VT_STRING, {0}},
	[OC_STACK] = {"stack", VT_STACK, {0}},
	[OC_BLOCKED_NS] = {"blocked_ns", VT_INT, {0}},
	[OC_COUNT] = {"count", VT_INT, {0}},
};

static const char *const offcpu_states[OFFCPU_NSTATES] = {
	[OFFCPU_RUNNABLE] = "runnable", [OFFCPU_SLEEPING] = "sleeping",
	[OFFCPU_UNINTERRUPTIBLE] = "uninterruptible", [OFFCPU_OTHER] = "other",
};

const char *catalog_offcpu_state(unsigned state)
{
	return offcpu_states[state < OFFCPU_NSTATES ? state : OFFCPU_OTHER];
}

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

static const struct table stack_samples = {"stack_samples", SS_NCOLS, stack_samples_cols, 0, 0, true};
static const struct table offcpu_samples = {"offcpu_samples", OC_NCOLS, offcpu_samples_cols, 0, 0, true};
static const struct table ring_stats = {"ring_stats", RS_NCOLS, ring_stats_cols, 0, 0, true};

static const struct catalog_entry entries[] = {
	{"stack_samples", &stack_samples, true},
	{"offcpu_samples", &offcpu_samples, true},
	{"ring_stats", &ring_stats, false},
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static const struct catalog_entry *catalog_find(const char *name)
{
	for (size_t i = 0; name && i < NENTRIES; i++)
		if (!strcmp(entries[i].name, name)) {
			assert(!entries[i].timeseries || entries[i].schema->cols[0].type == VT_TIME);
			return &entries[i];
		}
	return NULL;
}

const struct table *catalog_schema(const char *name)
{
	const struct catalog_entry *e = catalog_find(name);
	return e ? e->schema : NULL;
}

bool catalog_is_timeseries(const char *name)
{
	const struct catalog_entry *e = catalog_find(name);
	return e && e->timeseries;
}

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void list_names(void)
{
	for (size_t i = 0, used = 0; i < NENTRIES && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", entries[i].name);
}

const char *catalog_names(void)
{
	pthread_once(&names_once, list_names);
	return names;
}
