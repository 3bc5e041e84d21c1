/* replay.h - the replay source: snapshot files loaded into the rings once, read-only after. */
#ifndef WISP_REPLAY_H
#define WISP_REPLAY_H

#include <stddef.h>

struct ring_set;

/* Loads each file of "FILE[,FILE...]" into the rings of set. 0, or -1 with a message naming the
 * file. */
int replay_load(const char *files, const struct ring_set *set, char *err, size_t errlen);

#endif
