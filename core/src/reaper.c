/*
 * reaper.c: the crash reaper, a watchdog process that unlinks a manager's segments when the
 * manager's process dies without shutting it down.
 *
 * The manager and the reaper share a SOCK_SEQPACKET socket pair. Before creating a segment
 * the manager sends "+name"; after unlinking it, "-name"; on clean shutdown, "Q". When every
 * copy of the manager's end is closed (the manager's process died, and so did any children it
 * forked, which inherit the descriptor), recv() returns 0 and the reaper unlinks every name
 * still registered. A name registered before creation and never created costs one harmless
 * ENOENT.
 *
 * A caller-chosen name can outlive its segment: someone else may unlink it and create another
 * segment under the same name. So once such a segment exists the manager also sends "=" with
 * its inode number, and the reaper unlinks that name only while it still refers to that inode.
 * (Random names are 128 bits: nobody re-creates one by chance.) Between the check and the
 * unlink the name could still change hands; no system call unlinks by inode.
 *
 * The reaper is forked twice so that it is not the caller's child (the caller's wait() never
 * sees it) and runs in its own session (a Ctrl-C to the caller's job does not reach it). After
 * fork() in a possibly multithreaded process only async-signal-safe work is allowed, so the
 * reaper uses raw system calls and an mmap'd hash set: no malloc, no stdio, no locks.
 */
#include "array.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_MAX (1 + sizeof(uint64_t) + SHMA_NAME_MAX)
#define STOP_TIMEOUT_MS 10000

/* ---------------------------------------------------------------------------------------------
 * The reaper's set of names: open addressing with tombstones, in mmap'd memory.
 * ------------------------------------------------------------------------------------------- */

enum { SLOT_EMPTY = 0, SLOT_USED = 1, SLOT_DEAD = 2 };

typedef struct slot {
    uint8_t state;
    uint8_t len;
    uint64_t ino; /* the segment's inode, 0 while unknown */
    char name[SHMA_NAME_MAX + 1];
} slot;

typedef struct name_set {
    slot *slots;
    size_t cap; /* a power of two */
    size_t used, dead;
} name_set;

static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static slot *set_alloc(size_t cap) {
    void *p = mmap(NULL, cap * sizeof(slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The slot holding name, or the slot to insert it in (the first tombstone on its probe path). */
static slot *set_find(const name_set *s, const char *name, size_t n) {
    size_t mask = s->cap - 1, i = (size_t)hash_name(name, n) & mask;
    slot *reuse = NULL;
    for (size_t probes = 0; probes < s->cap; probes++, i = (i + 1) & mask) {
        slot *e = &s->slots[i];
        if (e->state == SLOT_EMPTY) return reuse ? reuse : e;
        if (e->state == SLOT_DEAD) {
            if (!reuse) reuse = e;
        } else if (e->len == n && memcmp(e->name, name, n) == 0) {
            return e;
        }
    }
    return reuse;
}

static bool set_grow(name_set *s) {
    name_set bigger = {set_alloc(s->cap * 2), s->cap * 2, 0, 0};
    if (!bigger.slots) return false;
    for (size_t i = 0; i < s->cap; i++) {
        const slot *e = &s->slots[i];
        if (e->state != SLOT_USED) continue;
        *set_find(&bigger, e->name, e->len) = *e;
        bigger.used++;
    }
    munmap(s->slots, s->cap * sizeof(slot));
    *s = bigger;
    return true;
}

static void set_add(name_set *s, const char *name, size_t n) {
    /* Without room the name goes unregistered: the reaper cannot fail its owner, and a full
     * address space in a process this small is not a case worth more. */
    if ((s->used + s->dead + 1) * 10 > s->cap * 7 && !set_grow(s)) return;
    slot *e = set_find(s, name, n);
    if (!e || e->state == SLOT_USED) return;
    if (e->state == SLOT_DEAD) s->dead--;
    e->state = SLOT_USED;
    e->len = (uint8_t)n;
    e->ino = 0;
    memcpy(e->name, name, n);
    e->name[n] = '\0';
    s->used++;
}

static void set_inode(name_set *s, const char *name, size_t n, uint64_t ino) {
    slot *e = set_find(s, name, n);
    if (e && e->state == SLOT_USED) e->ino = ino;
}

static void set_remove(name_set *s, const char *name, size_t n) {
    slot *e = set_find(s, name, n);
    if (!e || e->state != SLOT_USED) return;
    e->state = SLOT_DEAD;
    s->used--;
    s->dead++;
}

/* ---------------------------------------------------------------------------------------------
 * The reaper process
 * ------------------------------------------------------------------------------------------- */

static void detach_from_caller(int sock) {
    setsid();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    /* Descriptors inherited from the caller (pipes, sockets, its stdout) would otherwise stay
     * open as long as the reaper lives, and a reader of them would never see end-of-file. */
    int high = fcntl(sock, F_DUPFD_CLOEXEC, 10);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
    }
    dup2(high, 3);
    shma__os_close_from(4);
}

static void reaper_main(int sock) __attribute__((noreturn));
static void reaper_main(int sock) {
    detach_from_caller(sock);
    sock = 3;
    name_set set = {set_alloc(64), 64, 0, 0};
    pid_t me = getpid();
    char msg[MSG_MAX + 1];
    msg[0] = 'P';
    memcpy(msg + 1, &me, sizeof me);
    send(sock, msg, 1 + sizeof me, MSG_NOSIGNAL);

    bool clean = false;
    for (;;) {
        ssize_t n = recv(sock, msg, sizeof msg, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* end of file: the manager's process is gone */
        if (msg[0] == 'Q') {
            clean = true;
            break;
        }
        if (!set.slots) continue;
        /* Only the manager writes here, but a name longer than a slot holds is never stored. */
        size_t head = msg[0] == '=' ? 1 + sizeof(uint64_t) : 1;
        if (n <= (ssize_t)head || (size_t)n - head > SHMA_NAME_MAX) continue;
        const char *name = msg + head;
        size_t len = (size_t)n - head;
        if (msg[0] == '+') set_add(&set, name, len);
        if (msg[0] == '-') set_remove(&set, name, len);
        if (msg[0] == '=') {
            uint64_t ino;
            memcpy(&ino, msg + 1, sizeof ino);
            set_inode(&set, name, len, ino);
        }
    }
    if (!clean && set.slots) {
        for (size_t i = 0; i < set.cap; i++) {
            const slot *e = &set.slots[i];
            uint64_t now;
            if (e->state != SLOT_USED) continue;
            if (e->ino && (shma__os_name_inode(e->name, &now) != 0 || now != e->ino)) continue;
            shma__os_unlink(e->name);
        }
    }
    if (set.slots) munmap(set.slots, set.cap * sizeof(slot));
    close(sock);
    _exit(0);
}

/* ---------------------------------------------------------------------------------------------
 * The manager's side
 * ------------------------------------------------------------------------------------------- */

int shma__reaper_start(int *sock_out, int *pid_out) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno;
    pid_t mid = fork();
    if (mid < 0) {
        int err = errno;
        close(sv[0]), close(sv[1]);
        return err;
    }
    if (mid == 0) {
        close(sv[0]);
        pid_t reaper = fork();
        if (reaper == 0) reaper_main(sv[1]);
        _exit(reaper < 0 ? 1 : 0);
    }
    close(sv[1]);
    /* The intermediate's exit status says nothing reliable (under valgrind it can carry the
     * parent's error count), so only the reaper's greeting counts: its first message is its
     * pid, and once it arrives the reaper is listening. If the second fork failed, every copy
     * of the reaper's end is closed and recv() reports end-of-file instead. */
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
    }
    char msg[MSG_MAX + 1];
    ssize_t n;
    do n = recv(sv[0], msg, sizeof msg, 0);
    while (n < 0 && errno == EINTR);
    int err = 0;
    if (n != (ssize_t)(1 + sizeof(pid_t)) || msg[0] != 'P') err = n < 0 ? errno : EAGAIN;
    if (err) {
        close(sv[0]);
        return err;
    }
    pid_t pid;
    memcpy(&pid, msg + 1, sizeof pid);
    *sock_out = sv[0];
    *pid_out = (int)pid;
    return 0;
}

static int send_msg(int sock, const char *msg, size_t n) {
    ssize_t r;
    do r = send(sock, msg, n, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r < 0 ? errno : 0;
}

int shma__reaper_send(int sock, char op, const char *bare) {
    char msg[MSG_MAX];
    size_t n = strnlen(bare, SHMA_NAME_MAX);
    msg[0] = op;
    memcpy(msg + 1, bare, n);
    return send_msg(sock, msg, 1 + n);
}

int shma__reaper_send_inode(int sock, const char *bare, uint64_t ino) {
    char msg[MSG_MAX];
    size_t n = strnlen(bare, SHMA_NAME_MAX);
    msg[0] = '=';
    memcpy(msg + 1, &ino, sizeof ino);
    memcpy(msg + 1 + sizeof ino, bare, n);
    return send_msg(sock, msg, 1 + sizeof ino + n);
}

int shma__reaper_stop(int sock) {
    int err = shma__reaper_send(sock, 'Q', "");
    /* Wait for the reaper to exit (its end closes), so that after shutdown nothing of the
     * manager runs; bounded, so a stopped reaper cannot hang the caller. */
    while (!err) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int r = poll(&p, 1, STOP_TIMEOUT_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err = r == 0 ? ETIMEDOUT : errno;
            break;
        }
        char sink[MSG_MAX];
        ssize_t n = recv(sock, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0) break;
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            err = errno == ECONNRESET ? 0 : errno;
            break;
        }
    }
    close(sock);
    return err;
}
