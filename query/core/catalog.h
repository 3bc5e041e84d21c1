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

/* Columns of offcpu_samples, in storage order: stack_samples' columns with the off-CPU state in
 * place of the CPU and the time blocked before count, so the thread and stack columns sit at
 * the same positions in both (the ring relies on it). A row is a sampled set of periods off the
 * CPU, counted when each ended. */
enum offcpu_samples_col {
	OC_TIME = SS_TIME,     /* time_      TIME   when the thread came back (ns since the epoch) */
	OC_NODE = SS_NODE,     /* node       STRING */
	OC_PID = SS_PID,       /* pid        INT */
	OC_TID = SS_TID,       /* tid        INT */
	OC_STATE = SS_CPU,     /* state      STRING why it left: runnable, sleeping, uninterruptible, other */
	OC_COMM = SS_COMM,     /* comm       STRING */
	OC_CGROUP = SS_CGROUP, /* cgroup     INT */
	OC_CONTAINER = SS_CONTAINER, /* container STRING */
	OC_POD = SS_POD,             /* pod       STRING */
	OC_NAMESPACE = SS_NAMESPACE, /* namespace STRING */
	OC_STACK = SS_STACK,   /* stack      STACK  where it left the CPU: kernel + user frames */
	OC_BLOCKED_NS = SS_COUNT, /* blocked_ns INT  nanoseconds off the CPU (estimated, see count) */
	OC_COUNT,              /* count      INT    periods off the CPU this row stands for */
	OC_NCOLS
};

/* Why a thread left the CPU (the state column of offcpu_samples). */
enum offcpu_state {
	OFFCPU_RUNNABLE,        /* preempted: it could have run on */
	OFFCPU_SLEEPING,        /* waiting, interruptibly (locks, sockets, pipes, sleeps) */
	OFFCPU_UNINTERRUPTIBLE, /* waiting uninterruptibly (disk I/O, some kernel locks) */
	OFFCPU_OTHER,           /* stopped, traced, parked ... */
	OFFCPU_NSTATES
};
/* The state's name in the state column ("runnable" ...); "other" past the end. */
const char *catalog_offcpu_state(unsigned state);

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
/* "stack_samples, offcpu_samples, ring_stats" for error messages. */
const char *catalog_names(void);

#endif
