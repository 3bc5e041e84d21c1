/* timeparse.h - the time and duration strings users type: script arguments (--start -2h), the
 * CLI's --start/--end, snapshot ranges. One parser, so every place accepts the same forms. */
#ifndef WISP_TIMEPARSE_H
#define WISP_TIMEPARSE_H

#include <stdint.h>

/* Times: "-5m", "-30s", "-2h", "-1d", "-250ms", "+10s", "now", "2026-11-22T10:00:00Z" (also
 * with a space, without seconds, with fractions), or an integer of ns since the epoch. Relative
 * times are relative to now_ns. 0, or -1 when s is not a time. */
int parse_time(const char *s, int64_t now_ns, int64_t *out);
/* Durations: "10s", "5m", "1h", "250ms", "1d", "100us", "30ns", also sums such as "1h30m".
 * 0, or -1 when s is not a duration (or overflows). */
int parse_duration(const char *s, int64_t *out);

#endif
