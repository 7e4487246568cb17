/*
 * preload/heapset.h - the layout of libcprof-heap.so's cprof_heap_set,
 * which the library writes (heapsample.c) and cprof reads from the
 * process (attach/heap.c, read_set): the sampled pointers not freed.
 * table[0..cap) holds 0 (empty), 1 (deleted) or a pointer; gen is odd
 * while the table is being replaced.  rate: the mean bytes between
 * samples the library draws with (CPROF_HEAP_RATE), which cprof reads
 * when it attaches to a process that was started with the library.
 */
#ifndef CPROF_HEAPSET_H
#define CPROF_HEAPSET_H

#include <stdint.h>

#define CPROF_HEAP_SET_MAGIC 0x32746553706d6863ULL	/* "chmpSet2" */

struct cprof_heap_set {
	uint64_t magic;
	uint64_t gen;
	uint64_t table;		/* its address in the process */
	uint64_t cap;
	uint64_t rate;
};

#endif
