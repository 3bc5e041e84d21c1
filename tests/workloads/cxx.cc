// cxx.cc - a C++ workload built the way distributions build (g++ -O2, no frame pointers): a
// template class in a namespace whose member functions take 3/4 (Matrix<double>::multiply) and
// 1/4 (Matrix<double>::checksum) of the CPU time, so that names come out demangled, with their
// template arguments, namespaces and parameters.
//   cxx [SECONDS]   (default 10; prints its pid on stdout first)
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>
#include <vector>

static double cpu_s()
{
	timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

namespace wl {
template <typename T> class Matrix {
public:
	explicit Matrix(int n) : n_(n), v_(n * n, T(1)) {}
	__attribute__((noinline)) Matrix multiply(const Matrix &o) const
	{
		Matrix r(n_);
		for (int i = 0; i < n_; i++)
			for (int k = 0; k < n_; k++)
				for (int j = 0; j < n_; j++)
					r.v_[i * n_ + j] += v_[i * n_ + k] * o.v_[k * n_ + j] * T(0.5);
		return r;
	}
	__attribute__((noinline)) T checksum(int rounds) const
	{
		T s = 0;
		for (int r = 0; r < rounds; r++)
			for (const T &x : v_)
				s = s * T(0.999) + x;
		return s;
	}

private:
	int n_;
	std::vector<T> v_;
};
} // namespace wl

static volatile double sink;

__attribute__((noinline)) static void multiply_phase(double unit, const wl::Matrix<double> &m)
{
	double end = cpu_s() + 3 * unit;
	while (cpu_s() < end)
		sink = m.multiply(m).checksum(0);
}

__attribute__((noinline)) static void checksum_phase(double unit, const wl::Matrix<double> &m)
{
	double end = cpu_s() + unit;
	while (cpu_s() < end)
		sink = m.checksum(20);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	wl::Matrix<double> m(48);
	printf("%d\n", (int)getpid());
	fflush(stdout);
	double stop = cpu_s() + seconds;
	while (cpu_s() < stop) {
		multiply_phase(0.01, m);
		checksum_phase(0.01, m);
	}
	return 0;
}
