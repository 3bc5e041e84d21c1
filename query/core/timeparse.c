/* timeparse.c - time and duration strings (see timeparse.h). */
#include "timeparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0;
	const char *p = s;
	if (!s || !*s)
		return -1;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		char *end;
		double v = strtod(p, &end);
		if (errno || end == p)
			return -1;
		p = end;
		int64_t unit;
		if (!strncmp(p, "ns", 2)) unit = 1, p += 2;
		else if (!strncmp(p, "us", 2)) unit = 1000, p += 2;
		else if (!strncmp(p, "ms", 2)) unit = 1000000, p += 2;
		else if (*p == 's') unit = 1000000000LL, p++;
		else if (*p == 'm') unit = 60000000000LL, p++;
		else if (*p == 'h') unit = 3600000000000LL, p++;
		else if (*p == 'd') unit = 86400000000000LL, p++;
		else return -1;
		double ns = v * (double)unit;
		if (ns > 9.0e18 || __builtin_add_overflow(total, (int64_t)ns, &total))
			return -1;
	}
	*out = total;
	return 0;
}

int parse_time(const char *s, int64_t now_ns, int64_t *out)
{
	int64_t d;
	if (!s || !*s)
		return -1;
	if (!strcmp(s, "now")) {
		*out = now_ns;
		return 0;
	}
	/* Relative times: a result outside int64 (year 1678 to 2262) is not a time. */
	if (s[0] == '-' && parse_duration(s + 1, &d) == 0)
		return __builtin_sub_overflow(now_ns, d, out) ? -1 : 0;
	if (s[0] == '+' && parse_duration(s + 1, &d) == 0)
		return __builtin_add_overflow(now_ns, d, out) ? -1 : 0;
	/* Integer nanoseconds. */
	char *end;
	errno = 0;
	long long ns = strtoll(s, &end, 10);
	if (!errno && *end == '\0' && end != s) {
		*out = ns;
		return 0;
	}
	/* ISO 8601 UTC: YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z] */
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	int64_t frac = 0;
	if (!p)
		return -1;
	if (*p == 'T' || *p == ' ') {
		const char *q = strptime(p + 1, "%H:%M:%S", &tm);
		if (!q)
			q = strptime(p + 1, "%H:%M", &tm);
		if (!q)
			return -1;
		p = q;
		if (*p == '.') {
			int64_t scale = 100000000;
			for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
				frac += (*p - '0') * scale;
		}
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -1;
	time_t t = timegm(&tm);
	int64_t whole;
	if (t == (time_t)-1 || __builtin_mul_overflow((int64_t)t, 1000000000LL, &whole) ||
	    __builtin_add_overflow(whole, frac, out)) /* beyond the years 1678 to 2262 */
		return -1;
	return 0;
}
