/* render_internal.h - what the formats share: one value as text, and each format's renderer.
 * Private to query/format/. */
#ifndef WISP_RENDER_INTERNAL_H
#define WISP_RENDER_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "render.h"

struct column;

/* Value r of column c as text: in buf (len bytes) or a string the value already is. Times as
 * ISO 8601 when iso_time, else ns; stacks folded. */
const char *render_cell(struct qctx *q, const struct column *c, size_t r, char *buf, size_t len, bool iso_time);

void render_aligned(FILE *f, struct qctx *q, const struct table *t, bool titled);
void render_json(FILE *f, struct qctx *q, struct table *const *tables, int n);
void render_csv(FILE *f, struct qctx *q, const struct table *t, bool titled);
int render_folded(FILE *f, struct qctx *q, const struct table *t, char *err, size_t errlen);

#endif
