/*
 * array.h: the array object, shared by array.c (its lifecycle) and manager.c (which keeps a
 * list of the arrays it owns), and the manager's side of that contract.
 */
#ifndef SHMA_ARRAY_H
#define SHMA_ARRAY_H

#include "internal.h"

struct shma_array {
    void *data;         /* == map, or a static empty buffer when nothing is mapped */
    void *map;          /* whole segment: data, padding, trailer; NULL when map_bytes == 0 */
    uint64_t map_bytes;
    uint64_t nbytes;    /* data bytes */
    int ndim;
    shma_dtype dtype;
    bool owner;         /* unlinks on close, when closed by creator_pid */
    int64_t creator_pid;
    uint64_t named_ino; /* inode of a segment created under a caller-chosen name, else 0 */
    shma_manager *mgr;  /* owning manager, NULL when standalone or after the manager shut down */
    shma_array *mgr_prev, *mgr_next;
    int64_t shape[SHMA_MAX_NDIM];
    int64_t strides[SHMA_MAX_NDIM];
    char name[SHMA_NAME_MAX + 1];
};

/* Unlinks the array's segment if this process created it and the name still refers to that
 * segment (a caller-chosen name may have been removed and made again by someone else).
 * Returns 0 or an errno; ENOENT when it is gone already. */
int shma__array_unlink_own(const shma_array *arr);

/* Called by array.c, in this order, around creating a segment for a manager:
 * begin (before shm_open: the reaper learns the name first, so a crash in between still
 * reaps it) then either adopt (success: the manager owns arr) or abort (the segment was
 * not created or was removed again). begin fails with SHMA_E_STATE in a process other than
 * the manager's creator or when the reaper is gone. */
int shma__manager_begin(shma_manager *mgr, const char *bare);
void shma__manager_abort(shma_manager *mgr, const char *bare);
void shma__manager_adopt(shma_manager *mgr, shma_array *arr);

/* Called by shma_close() for an array that had a manager, after it unlinked the segment (or
 * decided not to): the manager forgets the array. Safe against a concurrent shutdown of the
 * manager, which may already have detached it (arr->mgr is re-read under the lock). */
void shma__manager_release(shma_array *arr);

/* The reaper (reaper.c): a watchdog process reached through a SOCK_SEQPACKET socket. */
int shma__reaper_start(int *sock, int *pid);          /* 0 or errno */
int shma__reaper_send(int sock, char op, const char *bare); /* op '+' register, '-' forget; 0 or errno */
int shma__reaper_send_inode(int sock, const char *bare, uint64_t ino); /* the segment it names now */
int shma__reaper_stop(int sock);                      /* clean stop, waits for its exit; 0 or errno */

#endif /* SHMA_ARRAY_H */
