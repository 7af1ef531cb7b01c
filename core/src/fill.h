/*
 * fill.h: filling a fresh segment with an array's data, padding and trailer (fill.c), the step
 * between creating a segment (os.h) and handing out its array (array.c).
 */
#ifndef SHMA_FILL_H
#define SHMA_FILL_H

#include "internal.h"

typedef struct shma_fill {
    const char *name;             /* bare, for messages */
    uint64_t data_bytes;          /* product(shape) x itemsize */
    uint64_t segment_bytes;       /* shma__segment_size(data_bytes) */
    const shma_copy_plan *src;    /* the data to copy, or NULL for zeros */
    const unsigned char *trailer; /* SHMA_TRAILER_SIZE bytes, already encoded */
    bool populate;                /* map with every page faulted in (SHMA_ALLOC_POPULATE) */
} shma_fill;

/* Fills fd, a segment just created empty, with f's content, every page of it allocated (so a
 * full /dev/shm is SHMA_E_NOSPC here, never SIGBUS later), and maps it whole into *map.
 * Returns SHMA_OK or an error with its detail set (SHMA_E_NOSPC, SHMA_E_NOMEM, SHMA_E_ARG for
 * an unreadable source, SHMA_E_OS); then nothing is mapped, and the caller unlinks the segment.
 * Runs on the calling thread only. */
int shma__fill_segment(int fd, const shma_fill *f, void **map);

#endif /* SHMA_FILL_H */
