/* catalog.h - the tables a script can read and their columns. A table is one entry of the
 * catalog: its name, its schema and whether it is a time series (column 0 is time_, which
 * SOURCE windows). The ring stores a time series' columns in exactly the schema's order; SOURCE
 * nodes of a plan take their schema from here. Adding a stored table means adding an entry. */
#ifndef WISP_CATALOG_H
#define WISP_CATALOG_H

#include <stdbool.h>

#include "table.h"

/* Columns of stack_samples, in storage order. */
enum stack_samples_col {
	SS_TIME,   /* time_  TIME   sample time, ns since the epoch */
	SS_NODE,   /* node   STRING node (agent) that took the sample */
	SS_PID,    /* pid    INT    process id (thread group) */
	SS_TID,    /* tid    INT    thread id */
	SS_CPU,    /* cpu    INT    CPU number */
	SS_COMM,   /* comm   STRING thread name */
	SS_CGROUP, /* cgroup INT    cgroup v2 id (1 = root) */
	SS_CONTAINER, /* container STRING Kubernetes container name ("" outside Kubernetes) */
	SS_POD,       /* pod       STRING pod name (its uid until the name is known) */
	SS_NAMESPACE, /* namespace STRING the pod's namespace */
	SS_STACK,  /* stack  STACK  kernel + user frames */
	SS_COUNT,  /* count  INT    samples this row stands for */
	SS_NCOLS
};

/* Columns of ring_stats: one row per table of each agent's ring. */
enum ring_stats_col {
	RS_NODE,          /* node             STRING */
	RS_TABLE,         /* table            STRING  table name */
	RS_BYTES,         /* bytes            INT     bytes held (rows + interned records) */
	RS_BUDGET,        /* budget           INT     the ring's byte budget */
	RS_ROWS,          /* rows             INT     rows a scan yields */
	RS_SAMPLES,       /* samples          INT     samples held (sum of count) */
	RS_OLDEST,        /* oldest           TIME */
	RS_NEWEST,        /* newest           TIME */
	RS_EVICTED_ROWS,  /* evicted_rows     INT     since start */
	RS_EVICTED_SAMPLES, /* evicted_samples INT */
	RS_COMPRESSION,   /* compression      FLOAT   samples x 64 B / bytes */
	RS_BATCHES,       /* batches          INT */
	RS_STACKS,        /* stacks           INT     distinct stacks held */
	RS_THREADS,       /* threads          INT */
	RS_NCOLS
};

struct catalog_entry {
	const char *name;          /* as scripts name it: px.DataFrame{table = name} */
	const struct table *schema; /* columns, no rows (static storage) */
	bool timeseries;           /* column 0 is time_ and SOURCE windows it */
};

/* The schema of table `name` (no rows; static storage), or NULL. */
const struct table *catalog_schema(const char *name);
/* Does the table have a time_ column to window (column 0)? */
bool catalog_is_timeseries(const char *name);
/* "stack_samples, ring_stats" for error messages. */
const char *catalog_names(void);

#endif
