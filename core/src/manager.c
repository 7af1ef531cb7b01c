/*
 * manager.c: the manager, owner of the arrays allocated through it. It keeps them in a list
 * (so shutdown can unlink what is left) and tells its reaper each name it creates or removes.
 */
#include "array.h"
#include "os.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct shma_manager {
    pthread_mutex_t lock; /* guards everything below but the registry links */
    int64_t creator_pid;
    int reaper_sock; /* -1 without a reaper */
    int reaper_pid;
    size_t count;
    shma_array *head;
    shma_manager *reg_prev, *reg_next; /* guarded by registry_lock */
};

static bool in_creator(const shma_manager *mgr) { return (int64_t)getpid() == mgr->creator_pid; }

/* ---------------------------------------------------------------------------------------------
 * Fork safety. A child has only the thread that called fork(); a manager lock held by any
 * other thread at that moment would stay locked in the child for ever, and the list it guards
 * could be half-updated. So every live manager is registered, and fork handlers take all their
 * locks before fork() (registry first, then each manager: the one lock order used anywhere)
 * and release them on both sides after.
 * ------------------------------------------------------------------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static shma_manager *registry_head;
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;

static void lock_all_before_fork(void) {
    pthread_mutex_lock(&registry_lock);
    for (shma_manager *m = registry_head; m; m = m->reg_next) pthread_mutex_lock(&m->lock);
}

static void unlock_all_after_fork(void) {
    for (shma_manager *m = registry_head; m; m = m->reg_next) pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&registry_lock);
}

static void install_fork_handlers(void) {
    pthread_atfork(lock_all_before_fork, unlock_all_after_fork, unlock_all_after_fork);
}

static void registry_add(shma_manager *mgr) {
    pthread_mutex_lock(&registry_lock);
    mgr->reg_prev = NULL;
    mgr->reg_next = registry_head;
    if (registry_head) registry_head->reg_prev = mgr;
    registry_head = mgr;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove_locked(shma_manager *mgr) {
    if (mgr->reg_prev) mgr->reg_prev->reg_next = mgr->reg_next;
    else registry_head = mgr->reg_next;
    if (mgr->reg_next) mgr->reg_next->reg_prev = mgr->reg_prev;
}

/* ---------------------------------------------------------------------------------------------
 * Managers
 * ------------------------------------------------------------------------------------------- */

int shma_manager_create(uint32_t flags, shma_manager **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "shma_manager_create: out is NULL");
    SHMA_FAIL_IF(flags & ~SHMA_MANAGER_NO_REAPER, SHMA_E_ARG, "shma_manager_create: unknown flags 0x%x",
                 (unsigned)(flags & ~SHMA_MANAGER_NO_REAPER));
    shma_manager *mgr = calloc(1, sizeof *mgr);
    SHMA_FAIL_IF(mgr == NULL, SHMA_E_NOMEM, "shma_manager_create: out of memory");
    int err = pthread_mutex_init(&mgr->lock, NULL);
    if (err) {
        free(mgr);
        return shma__fail_errno(SHMA_E_OS, err, "shma_manager_create: pthread_mutex_init");
    }
    mgr->creator_pid = getpid();
    mgr->reaper_sock = -1;
    if (!(flags & SHMA_MANAGER_NO_REAPER)) {
        err = shma__reaper_start(&mgr->reaper_sock, &mgr->reaper_pid);
        if (err) {
            pthread_mutex_destroy(&mgr->lock);
            free(mgr);
            return shma__fail_errno(shma__code_from_errno(err) == SHMA_E_NOMEM ? SHMA_E_NOMEM : SHMA_E_OS,
                                    err, "shma_manager_create: cannot start the reaper process");
        }
    }
    pthread_once(&fork_handlers_once, install_fork_handlers);
    registry_add(mgr);
    *out = mgr;
    return SHMA_OK;
}

int shma__manager_begin(shma_manager *mgr, const char *bare) {
    if (!in_creator(mgr))
        return shma__fail(SHMA_E_STATE, "manager belongs to process %lld, not to this one (%lld): "
                                        "a forked child cannot allocate through its parent's manager",
                          (long long)mgr->creator_pid, (long long)getpid());
    pthread_mutex_lock(&mgr->lock);
    int err = mgr->reaper_sock >= 0 ? shma__reaper_send(mgr->reaper_sock, '+', bare) : 0;
    pthread_mutex_unlock(&mgr->lock);
    if (err)
        return shma__fail_errno(SHMA_E_STATE, err, "the manager's reaper (pid %d) is gone, so segment "
                                "'%s' could not be protected against a crash", mgr->reaper_pid, bare);
    return SHMA_OK;
}

void shma__manager_abort(shma_manager *mgr, const char *bare) {
    pthread_mutex_lock(&mgr->lock);
    if (mgr->reaper_sock >= 0) shma__reaper_send(mgr->reaper_sock, '-', bare);
    pthread_mutex_unlock(&mgr->lock);
}

void shma__manager_adopt(shma_manager *mgr, shma_array *arr) {
    pthread_mutex_lock(&mgr->lock);
    /* Should the reaper be gone by now, "+" has already protected the name: this only narrows
     * what it unlinks. */
    if (arr->named_ino && mgr->reaper_sock >= 0) shma__reaper_send_inode(mgr->reaper_sock, arr->name, arr->named_ino);
    arr->mgr = mgr;
    arr->mgr_prev = NULL;
    arr->mgr_next = mgr->head;
    if (mgr->head) mgr->head->mgr_prev = arr;
    mgr->head = arr;
    mgr->count++;
    pthread_mutex_unlock(&mgr->lock);
}

static void unlink_from_list(shma_manager *mgr, shma_array *arr) {
    if (arr->mgr_prev) arr->mgr_prev->mgr_next = arr->mgr_next;
    else mgr->head = arr->mgr_next;
    if (arr->mgr_next) arr->mgr_next->mgr_prev = arr->mgr_prev;
    arr->mgr = NULL;
    arr->mgr_prev = arr->mgr_next = NULL;
    mgr->count--;
}

void shma__manager_release(shma_array *arr) {
    /* Shutdown detaches arrays while holding registry_lock, so arr->mgr read under it is
     * either a live manager or NULL, never one being freed. */
    pthread_mutex_lock(&registry_lock);
    shma_manager *mgr = arr->mgr;
    if (mgr) {
        pthread_mutex_lock(&mgr->lock);
        /* A forked child's copy of the manager shares the parent's reaper socket: only the
         * creator may tell the reaper anything. */
        if (mgr->reaper_sock >= 0 && in_creator(mgr)) shma__reaper_send(mgr->reaper_sock, '-', arr->name);
        unlink_from_list(mgr, arr);
        pthread_mutex_unlock(&mgr->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

int shma_manager_shutdown(shma_manager **pmgr) {
    if (pmgr == NULL || *pmgr == NULL) return SHMA_OK;
    shma_manager *mgr = *pmgr;
    *pmgr = NULL;
    bool creator = in_creator(mgr);
    int rc = SHMA_OK;
    pthread_mutex_lock(&registry_lock);
    registry_remove_locked(mgr);
    pthread_mutex_lock(&mgr->lock);
    while (mgr->head) {
        shma_array *arr = mgr->head;
        if (creator) {
            int err = shma__array_unlink_own(arr);
            if (err && err != ENOENT && rc == SHMA_OK)
                rc = shma__fail_errno(shma__code_from_errno(err), err, "shma_manager_shutdown: cannot unlink '%s'",
                                      arr->name);
        }
        /* The array stays mapped and usable; it just owns nothing any more. */
        arr->owner = false;
        unlink_from_list(mgr, arr);
    }
    int sock = mgr->reaper_sock;
    pthread_mutex_unlock(&mgr->lock);
    pthread_mutex_unlock(&registry_lock);
    if (sock >= 0) {
        if (creator) {
            int err = shma__reaper_stop(sock);
            if (err && rc == SHMA_OK)
                rc = shma__fail_errno(SHMA_E_OS, err, "shma_manager_shutdown: reaper (pid %d) did not stop",
                                      mgr->reaper_pid);
        } else {
            shma__os_close(sock);
        }
    }
    pthread_mutex_destroy(&mgr->lock);
    free(mgr);
    return rc;
}

void shma_manager_shutdownp(shma_manager **mgr) { (void)shma_manager_shutdown(mgr); }

size_t shma_manager_count(const shma_manager *mgr) {
    if (mgr == NULL) return 0;
    shma_manager *m = (shma_manager *)mgr; /* locking does not change what the caller sees */
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int shma_manager_reaper_pid(const shma_manager *mgr) { return mgr ? mgr->reaper_pid : 0; }
