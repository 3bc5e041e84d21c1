/* hotlib.c - the library dlopen_main.c opens after it started (gcc -O2 -shared, no frame
 * pointers): all the CPU time goes to lib_leaf, called through lib_outer. */
#include <stdint.h>

__attribute__((noinline)) uint64_t lib_leaf(uint64_t x)
{
	for (int i = 0; i < 100000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

__attribute__((noinline)) uint64_t lib_outer(uint64_t x, int rounds)
{
	for (int r = 0; r < rounds; r++)
		x = lib_leaf(x) ^ (uint64_t)r;
	return x;
}
