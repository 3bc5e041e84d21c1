/* codec.h - msgpack encoding of tables and plans, the payloads of the wire protocol.
 *
 * table := {"name": str|nil, "nrows": uint, "strs": [str...], "stacks": [[nkernel, sidx...]...],
 *           "cols": [{"n": str, "t": type-name, "v": [value...]}...]}
 *   int/time/float/bool values are msgpack numbers/bools; string values are indexes into
 *   "strs"; stack values are indexes into "stacks", whose frames (leaf first) index "strs".
 * plan  := {"nodes": [node...], "displays": [[node-id, name]...]}, each node a map with "k"
 *   (kind name), "in" (input ids) and its fields; an expression is one flat array of items in
 *   post-order: ["c", column], ["i", int], ["f", float], ["b", bool], ["t", ns], ["s", str],
 *   ["x", function, nargs] (a call of the nargs items before it; the last item is the root).
 *
 * Decoders never trust their input: every field is type-checked, plans are rebuilt through the
 * validating builders, and errors name what was wrong. Decoded strings and stacks are interned
 * into the query's intern table, so equal stacks from different agents are the same pointer. */
#ifndef WISP_CODEC_H
#define WISP_CODEC_H

#include "plan.h"
#include "core/mpack.h"
#include "core/qctx.h"

int codec_pack_table(msgpack_packer *pk, const struct table *t);
/* *out: new owned table whose strings/stacks live in q. Its bytes count against q's memory limit
 * (q->mem_used grows by table_bytes(*out); a caller that frees it early may give them back).
 * 0 or -1 (error in q). */
int codec_unpack_table(struct qctx *q, const msgpack_object *o, struct table **out);

int codec_pack_plan(msgpack_packer *pk, const struct plan *p);
/* *out: a new plan (not yet split). 0 or -1 with a message in err. */
int codec_unpack_plan(const msgpack_object *o, struct plan **out, char *err, size_t errlen);

#endif
