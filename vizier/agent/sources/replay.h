/* replay.h - the replay source: snapshot files loaded into the ring once, read-only after. */
#ifndef WISP_REPLAY_H
#define WISP_REPLAY_H

#include <stddef.h>

struct ring;

/* Loads each file of "FILE[,FILE...]" into ring. 0, or -1 with a message naming the file. */
int replay_load(const char *files, struct ring *ring, char *err, size_t errlen);

#endif
