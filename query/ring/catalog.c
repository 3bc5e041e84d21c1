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

const struct table *catalog_schema(const char *name)
{
	if (name && strcmp(name, "stack_samples") == 0)
		return &stack_samples;
	return NULL;
}

const char *catalog_names(void)
{
	return "stack_samples";
}
