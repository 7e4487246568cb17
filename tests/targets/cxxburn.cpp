// tests/targets/cxxburn.cpp - C++ names: a namespace, a class template and
// an operator, to check demangling.  Prints "ready PID"; runs until killed.
#include <cstdint>
#include <cstdio>
#include <unistd.h>

namespace shapes {
template <typename T> struct Spinner {
	T state;
	__attribute__((noinline)) T spin(unsigned n)
	{
		for (unsigned i = 0; i < n; i++)
			state = state * 6364136223846793005ULL + 1;
		return state;
	}
	__attribute__((noinline)) Spinner &operator+=(unsigned n)
	{
		spin(n);
		state ^= n;	// work after the call: a real frame, not a tail jump
		return *this;
	}
};
} // namespace shapes

volatile uint64_t sink;

int main()
{
	shapes::Spinner<uint64_t> s{ 1 };

	std::printf("ready %d\n", getpid());
	std::fflush(stdout);
	for (;;) {
		s += 100000;
		sink = s.state;
	}
}
