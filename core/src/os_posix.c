/* os_posix.c: the POSIX shared-memory calls behind os.h. */
#include "os.h"

#include "shmanager.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* shm_open wants "/name"; the buffer is on the stack so the reaper can use this after fork. */
static void slash_name(const char *bare, char path[SHMA_NAME_MAX + 2]) {
    path[0] = '/';
    size_t n = strnlen(bare, SHMA_NAME_MAX);
    memcpy(path + 1, bare, n);
    path[n + 1] = '\0';
}

int shma__os_create(const char *bare, int *fd_out) {
    char path[SHMA_NAME_MAX + 2];
    slash_name(bare, path);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    *fd_out = fd;
    return 0;
}

int shma__os_resize(int fd, uint64_t size) { return ftruncate(fd, (off_t)size) == 0 ? 0 : errno; }

int shma__os_reserve(int fd, uint64_t off, uint64_t len) {
    /* posix_fallocate returns the error instead of setting errno, and is interrupted by signals
     * on large sizes: a retry continues where the reservation stopped. */
    int err;
    do err = posix_fallocate(fd, (off_t)off, (off_t)len);
    while (err == EINTR);
    return err;
}

int shma__os_write(int fd, const struct iovec *iov_in, int n, uint64_t off) {
    struct iovec iov[SHMA_OS_WRITE_MAX_IOV];
    if (n < 0 || n > SHMA_OS_WRITE_MAX_IOV) return EINVAL;
    memcpy(iov, iov_in, (size_t)n * sizeof *iov);
    struct iovec *cur = iov;
    size_t done = 0; /* bytes of *cur already written */
    for (;;) {
        while (n > 0 && done >= cur->iov_len) done -= cur->iov_len, cur++, n--;
        if (n == 0) return 0;
        cur->iov_base = (char *)cur->iov_base + done;
        cur->iov_len -= done;
        /* Linux writes at most about 2 GiB a call; larger writes come back short, as do
         * writes a signal interrupts after some progress. */
        ssize_t w = pwritev(fd, cur, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            done = 0;
            continue;
        }
        if (w < 0) return errno;
        if (w == 0) return EIO;
        off += (uint64_t)w;
        done = (size_t)w;
    }
}

int shma__os_read(int fd, void *buf, size_t len, uint64_t off, size_t *got) {
    ssize_t r;
    do r = pread(fd, buf, len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r < 0) return errno;
    *got = (size_t)r;
    return 0;
}

int shma__os_space(int fd, uint64_t *avail) {
    struct statvfs st;
    if (fstatvfs(fd, &st) != 0) return errno;
    *avail = (uint64_t)st.f_bavail * st.f_frsize;
    return 0;
}

int shma__os_open(const char *bare, int *fd_out) {
    char path[SHMA_NAME_MAX + 2];
    slash_name(bare, path);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return errno;
    *fd_out = fd;
    return 0;
}

int shma__os_size(int fd, uint64_t *size) {
    struct stat st;
    if (fstat(fd, &st) != 0) return errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

int shma__os_read_tail(const char *bare, void *tail, uint64_t n, uint64_t *size, uint64_t *got) {
    char path[SHMA_NAME_MAX + 2];
    slash_name(bare, path);
    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return errno;
    struct stat st;
    int err = fstat(fd, &st) == 0 ? 0 : errno;
    uint64_t have = 0;
    if (!err && (uint64_t)st.st_size >= n) {
        size_t r = 0;
        err = shma__os_read(fd, tail, (size_t)n, (uint64_t)st.st_size - n, &r);
        if (!err && r == n) have = n; /* shorter: it shrank under us; report no tail */
    }
    close(fd);
    if (err) return err;
    *size = (uint64_t)st.st_size;
    *got = have;
    return 0;
}

int shma__os_map(int fd, uint64_t size, bool populate, void **addr) {
    int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED) return errno;
    *addr = p;
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older C library headers lack the name */
#endif

int shma__os_populate_write(void *addr, uint64_t len) {
    /* Pages done before a signal stay done: asking again only finishes the rest. */
    int err;
    do err = madvise(addr, (size_t)len, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
    while (err == EINTR);
    return err;
}

int shma__os_advise_hugepages(void *addr, uint64_t size) {
    /* madvise succeeds even where shmem THP is "never", so read the policy: only "always",
     * "within_size", "advise" and "force" can give huge pages to a shared mapping. */
    int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ENOTSUP;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return ENOTSUP;
    buf[n] = '\0';
    if (strstr(buf, "[never]") != NULL || strstr(buf, "[deny]") != NULL || strchr(buf, '[') == NULL)
        return ENOTSUP;
    if (madvise(addr, (size_t)size, MADV_HUGEPAGE) != 0) return errno;
    return 0;
}

int shma__os_fd_inode(int fd, uint64_t *ino) {
    struct stat st;
    if (fstat(fd, &st) != 0) return errno;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

int shma__os_name_inode(const char *bare, uint64_t *ino) {
    /* glibc's shm_open resolves names under /dev/shm on Linux; stat the same file. The path is
     * built without stdio: the reaper calls this after fork. */
    static const char dir[] = "/dev/shm";
    char path[sizeof dir + SHMA_NAME_MAX + 1];
    memcpy(path, dir, sizeof dir - 1);
    slash_name(bare, path + sizeof dir - 1);
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

int shma__os_unmap(void *addr, uint64_t size) { return munmap(addr, (size_t)size) == 0 ? 0 : errno; }

int shma__os_close(int fd) {
    /* Linux releases the descriptor even when close reports EINTR: never retry. */
    return close(fd) == 0 || errno == EINTR ? 0 : errno;
}

int shma__os_unlink(const char *bare) {
    char path[SHMA_NAME_MAX + 2];
    slash_name(bare, path);
    return shm_unlink(path) == 0 ? 0 : errno;
}

void shma__os_close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0u, 0u) == 0) return;
    /* Kernels before 5.9 lack close_range. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 1024); fd++) close((int)fd);
}
