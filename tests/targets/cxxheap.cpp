// tests/targets/cxxheap.cpp - a C++ program that allocates with new and
// delete: build_tree() keeps a std::map of strings, churn_vectors() makes
// and drops vectors.  Prints "ready PID", then runs until killed.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

static std::map<int, std::string> *tree;

__attribute__((noinline)) static void build_tree(int i)
{
	(*tree)[i % 4096] = std::string(100 + i % 200, 'x');
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static size_t churn_vectors(int i)
{
	std::unique_ptr<std::vector<long>> v(new std::vector<long>(64 + i % 64));
	__asm__ volatile("" ::: "memory");
	return v->size();
}

int main()
{
	volatile size_t sink = 0;

	tree = new std::map<int, std::string>;
	std::printf("ready %d\n", getpid());
	std::fflush(stdout);
	for (int i = 0;; i++) {
		build_tree(i);
		sink = sink + churn_vectors(i);
		if (i % 100 == 0)
			usleep(1000);
	}
}
