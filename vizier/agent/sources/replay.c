/* replay.c - snapshot files as a source (see replay.h). */
#include "replay.h"
#include "ring/snapshot.h"

#include <stdio.h>
#include <string.h>

int replay_load(const char *files, const struct ring_set *set, char *err, size_t errlen)
{
	char list[4096];
	snprintf(list, sizeof(list), "%s", files);
	for (char *save, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save))
		if (ring_set_load_snapshot_file(set, f, err, errlen) < 0)
			return -1;
	return 0;
}
