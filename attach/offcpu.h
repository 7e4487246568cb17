/*
 * attach/offcpu.h - the wall, block and mutex sampling modes (see
 * attach/offcpu.c): wall_mode, block_mode and mutex_mode, declared with
 * the others in attach/sampler.h.
 */
#ifndef CPROF_OFFCPU_H
#define CPROF_OFFCPU_H

#include <stdint.h>

#include "../profiles/builder.h"

/*
 * Off-cpu entries carry two labels packed in the builder's label value:
 * the /proc state letter and the system call number + 1 (0: none).
 */
static inline uint32_t offcpu_label(char state, long nr)
{
	return (uint32_t)(unsigned char)state << 16 |
	       (uint32_t)(nr >= 0 && nr < 0xffff ? nr + 1 : 0);
}

/* ... and their names: {syscall, thread_state}, sorted by key as Go does */
size_t offcpu_labels(uint32_t label, const char *kv[PB_MAX_LABELS][2]);

#endif
