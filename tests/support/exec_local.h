/* exec_local.h - runs a whole plan in one process, as if one agent held all the data: split it,
 * run every bridge over one scan source, finish. For tests and benchmarks, which compare it with
 * the distributed path; the daemon always goes through the wire. */
#ifndef WISP_TEST_EXEC_LOCAL_H
#define WISP_TEST_EXEC_LOCAL_H

#include <stdbool.h>

#include "engine/exec.h"

/* outs[d] (one per display) are new owned tables. 0, or -1 with the error in q. */
int exec_local(struct qctx *q, struct plan *p, const struct scan_source *src, struct table **outs,
	       bool *truncated);

#endif
