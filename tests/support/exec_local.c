/* exec_local.c - a whole plan in one process (see exec_local.h). */
#include "exec_local.h"

int exec_local(struct qctx *q, struct plan *p, const struct scan_source *src, struct table **outs,
	       bool *truncated)
{
	if (plan_split(p) < 0)
		return qctx_fail(q, "out of memory");
	struct table *res[p->nbridges ? p->nbridges : 1];
	struct table *const *ins[p->nbridges ? p->nbridges : 1];
	int rc = 0, b;
	for (b = 0; b < p->nbridges && rc == 0; b++) {
		rc = exec_bridge(q, p, &p->bridges[b], src, &res[b]);
		ins[b] = &res[b];
	}
	if (rc == 0)
		rc = exec_finish(q, p, ins, 1, outs, truncated);
	for (int i = 0; i < b; i++)
		table_free(res[i]);
	return rc;
}
