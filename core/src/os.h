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
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Creates segment `bare` exclusively (O_CREAT|O_EXCL, mode 0600, close-on-exec) with size 0.
 * The caller gives it its size and content with the calls below, and unlinks it on failure. */
int shma__os_create(const char *bare, int *fd);

/* Sets the size of fd's segment (ftruncate). Reserves no memory: a page first touched through a
 * mapping is allocated then, and one that cannot be is SIGBUS, unless shma__os_populate_write()
 * or shma__os_reserve() allocated it first. */
int shma__os_resize(int fd, uint64_t size);

/* Reserves bytes [off, off + len) (posix_fallocate; grows the file to off + len if shorter):
 * every page in the range is allocated and zero-filled now, so a full /dev/shm is ENOSPC here
 * rather than SIGBUS at first touch. len > 0. */
int shma__os_reserve(int fd, uint64_t off, uint64_t len);

/* Writes the n (<= SHMA_OS_WRITE_MAX_IOV) buffers of iov back to back at offset off (pwritev,
 * continued after a short write or EINTR), growing the file as needed. Writing allocates every
 * page it covers, as reserving does, so a full /dev/shm is ENOSPC here too; and tmpfs does not
 * zero-fill a page that a write fills whole, so this is the cheapest way to fill fresh shared
 * memory (one copy, no page faults). Unreadable source memory is EFAULT, not a signal. */
#define SHMA_OS_WRITE_MAX_IOV 4
int shma__os_write(int fd, const struct iovec *iov, int n, uint64_t off);

/* Reads up to len bytes at offset off into buf with one pread (retried on EINTR); *got is the
 * count read. A shared-memory file reads whole, so *got < len means the segment ends first:
 * a second call to confirm it would only cost another system call. */
int shma__os_read(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/* Bytes free in the file system holding fd (fstatvfs: f_bavail x f_frsize). */
int shma__os_space(int fd, uint64_t *avail);

/* Opens an existing segment read-write. */
int shma__os_open(const char *bare, int *fd);

/* The current size of fd's segment (fstat). */
int shma__os_size(int fd, uint64_t *size);

/* Opens an existing segment read-only and reads its size and, when it holds at least n
 * bytes, its last n bytes into tail (*got = n; else *got = 0). Reading instead of mapping
 * needs only read permission and cannot SIGBUS if the segment shrinks meanwhile. */
int shma__os_read_tail(const char *bare, void *tail, uint64_t n, uint64_t *size, uint64_t *got);

/* Maps `size` (> 0) bytes of fd shared and read-write. `populate` pre-faults every page. */
int shma__os_map(int fd, uint64_t size, bool populate, void **addr);

/* Faults in [addr, addr + len) of a shared mapping for writing (MADV_POPULATE_WRITE, Linux
 * 5.14): every page not yet allocated is allocated now, and one that cannot be is an error here
 * (EFAULT, which a full tmpfs gives), never a SIGBUS later, as with shma__os_reserve(). Unlike
 * fallocate it does not take the file's lock, so it runs alongside a write to the same file.
 * EINVAL where the kernel lacks it. addr page-aligned. */
int shma__os_populate_write(void *addr, uint64_t len);

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
