/* tests/targets/work.h - the known call chains profiled by the tests. */
#ifndef WORK_H
#define WORK_H
#include <stdint.h>

/* Each spins for about `ms` milliseconds of this thread's cpu time. */
void work_a(unsigned ms);	/* plain loop */
void work_b(unsigned ms);	/* an always_inline helper inside */
void work_c(unsigned ms);	/* through libc: qsort calling back cmp_slow */
extern volatile uint64_t work_sink;
#endif
