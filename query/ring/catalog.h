/* catalog.h - the tables a script can read and their columns. The ring stores each table's
 * columns in exactly this order; SOURCE nodes of a plan take their schema from here. */
#ifndef WISP_CATALOG_H
#define WISP_CATALOG_H

#include "../engine/table.h"

/* Columns of stack_samples, in storage order. */
enum stack_samples_col {
	SS_TIME,   /* time_  TIME   sample time, ns since the epoch */
	SS_NODE,   /* node   STRING node (agent) that took the sample */
	SS_PID,    /* pid    INT    process id (thread group) */
	SS_TID,    /* tid    INT    thread id */
	SS_CPU,    /* cpu    INT    CPU number */
	SS_COMM,   /* comm   STRING thread name */
	SS_CGROUP, /* cgroup INT    cgroup v2 id (1 = root) */
	SS_STACK,  /* stack  STACK  kernel + user frames */
	SS_COUNT,  /* count  INT    samples this row stands for */
	SS_NCOLS
};

/* The schema of table `name` (no rows; static storage), or NULL. */
const struct table *catalog_schema(const char *name);
/* "stack_samples, ..." for error messages. */
const char *catalog_names(void);

#endif
