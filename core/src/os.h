/*
 * os.h: the operating-system layer. Only os_posix.c calls shm_open, ftruncate, fallocate, mmap
 * and friends; everything else goes through these functions.
 *
 * Contract: every function returns 0 on success or a positive errno value on failure, sets no
 * detail message (callers word the error) and leaves out-parameters untouched on failure.
 * Names are "bare": without the leading '/', already validated, at most SHMA_NAME_MAX bytes.
 * Nothing here allocates heap memory, so the reaper may call these after fork().
 */
#ifndef SHMA_OS_H
#define SHMA_OS_H

#include <stdbool.h>
#include <stdint.h>

/* Creates segment `bare` exclusively (O_CREAT|O_EXCL, mode 0600, close-on-exec), sizes it to
 * `size` bytes (> 0) and reserves its memory, so that a full /dev/shm is ENOSPC here rather
 * than SIGBUS at first touch. On failure after creation the segment is unlinked again. */
int shma__os_create(const char *bare, uint64_t size, int *fd);

/* Opens an existing segment read-write and reports its current size. */
int shma__os_open(const char *bare, int *fd, uint64_t *size);

/* Opens an existing segment read-only and reads its size and, when it holds at least n
 * bytes, its last n bytes into tail (*got = n; else *got = 0). Reading instead of mapping
 * needs only read permission and cannot SIGBUS if the segment shrinks meanwhile. */
int shma__os_read_tail(const char *bare, void *tail, uint64_t n, uint64_t *size, uint64_t *got);

/* Maps `size` (> 0) bytes of fd shared and read-write. `populate` pre-faults every page. */
int shma__os_map(int fd, uint64_t size, bool populate, void **addr);

/* Asks for transparent huge pages on a mapping: ENOTSUP when the kernel has shmem THP off. */
int shma__os_advise_hugepages(void *addr, uint64_t size);

/* The inode number of an open segment, and of the segment a name currently refers to. */
int shma__os_fd_inode(int fd, uint64_t *ino);
int shma__os_name_inode(const char *bare, uint64_t *ino);

int shma__os_unmap(void *addr, uint64_t size);
int shma__os_close(int fd);
int shma__os_unlink(const char *bare);

/* Closes every descriptor from `first` up; for a freshly forked process. */
void shma__os_close_from(int first);

#endif /* SHMA_OS_H */
