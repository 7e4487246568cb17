// tests/targets/cxxburn.cpp - C++ names and C++ runtime stacks: a namespace,
// a class template and an operator (demangling), run on a std::thread (so
// stacks cross libstdc++'s thread entry), beside a thread spending its time
// in libm.  Prints "ready PID"; runs until killed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <thread>
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
volatile double dsink;

__attribute__((noinline)) static void spin_forever()
{
	shapes::Spinner<uint64_t> s{ 1 };

	for (;;) {
		s += 100000;
		sink = s.state;
	}
}

// calls into libm through the PLT: a libm frame above ours
__attribute__((noinline)) static void trig_forever()
{
	double x = 0.5;

	for (;;) {
		for (int i = 0; i < 100000; i++)
			x = std::sin(x + (double)i) + std::cos(x);
		dsink = x;
	}
}

int main()
{
	std::thread a(spin_forever), b(trig_forever);

	std::printf("ready %d\n", getpid());
	std::fflush(stdout);
	a.join();
	b.join();
}
