/*
 * segments.c: what is in /dev/shm. Listing reads the directory itself (the library has no
 * call for that: on Linux, glibc's shm_open puts every POSIX segment there); everything about
 * one segment comes from shma_inspect().
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* glibc's sem_open names its files "sem.NAME"; they are semaphores, not segments. */
static bool is_semaphore(const char *name) { return strncmp(name, "sem.", 4) == 0; }

static void copy_name(char dst[SHMA_NAME_MAX + 1], const char *name) {
    const char *bare = name[0] == '/' ? name + 1 : name;
    size_t n = strnlen(bare, SHMA_NAME_MAX);
    memcpy(dst, bare, n);
    dst[n] = '\0';
}

/* The size from the directory entry, for segments shma_inspect() could not open. */
static uint64_t stat_size(const char *bare) {
    char path[sizeof CLI_SHM_DIR + SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", CLI_SHM_DIR, bare);
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int cli_inspect_segment(const char *name, cli_segment *seg) {
    memset(seg, 0, sizeof *seg);
    int rc = shma_inspect(name, &seg->info);
    if (rc == SHMA_OK) {
        seg->kind = seg->info.has_meta ? CLI_SEG_SHMANAGER : CLI_SEG_FOREIGN;
        return SHMA_OK;
    }
    snprintf(seg->error, sizeof seg->error, "%s", shma_last_error());
    if (rc == SHMA_E_CORRUPT) {
        /* shma_inspect() filled name and size. */
        seg->kind = CLI_SEG_CORRUPT;
        return SHMA_OK;
    }
    /* Not inspected: an unreadable segment, or one that is not there. */
    seg->kind = CLI_SEG_NOACCESS;
    if (name != NULL) {
        copy_name(seg->info.name, name);
        seg->info.segment_bytes = stat_size(seg->info.name);
    }
    return rc;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const cli_segment *)a)->info.name, ((const cli_segment *)b)->info.name);
}

static bool is_regular(int dirfd, const struct dirent *e) {
    if (e->d_type == DT_REG) return true;
    if (e->d_type != DT_UNKNOWN) return false;
    struct stat st;
    return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

bool cli_list_segments(bool with_semaphores, cli_segment **out, size_t *count) {
    DIR *dir = opendir(CLI_SHM_DIR);
    if (!dir) {
        cli_error("cannot read %s: %s", CLI_SHM_DIR, strerror(errno));
        return false;
    }
    cli_segment *segs = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (;;) {
        errno = 0; /* readdir() returns NULL both at the end and on error */
        struct dirent *e = readdir(dir);
        if (e == NULL) {
            if (errno != 0) {
                cli_error("cannot read %s: %s", CLI_SHM_DIR, strerror(errno));
                ok = false;
            }
            break;
        }
        if (!is_regular(dirfd(dir), e)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            cli_segment *grown = realloc(segs, cap * sizeof *grown);
            if (!grown) {
                cli_error("out of memory listing %s", CLI_SHM_DIR);
                ok = false;
                break;
            }
            segs = grown;
        }
        cli_segment *seg = &segs[n];
        if (is_semaphore(e->d_name)) {
            if (!with_semaphores) continue;
            memset(seg, 0, sizeof *seg);
            seg->kind = CLI_SEG_SEMAPHORE;
            copy_name(seg->info.name, e->d_name);
            seg->info.segment_bytes = stat_size(seg->info.name);
            n++;
            continue;
        }
        int rc = cli_inspect_segment(e->d_name, seg);
        if (rc == SHMA_E_NOTFOUND) continue; /* removed since readdir saw it */
        if (rc == SHMA_E_NAME) {
            /* A file whose name shm_open() could not have made (a control character): not
             * the library's; someone wrote it into /dev/shm directly. */
            seg->kind = CLI_SEG_FOREIGN;
            seg->error[0] = '\0';
        }
        n++;
    }
    closedir(dir);
    if (!ok) {
        free(segs);
        return false;
    }
    if (n > 1) qsort(segs, n, sizeof *segs, by_name);
    *out = segs;
    *count = n;
    return true;
}

const char *cli_seg_state(const cli_segment *seg) {
    if (seg->kind == CLI_SEG_SHMANAGER) return seg->info.creator_alive ? "alive" : "gone";
    return cli_seg_kind_name(seg->kind);
}

const char *cli_seg_kind_name(cli_seg_kind kind) {
    switch (kind) {
    case CLI_SEG_SHMANAGER: return "shmanager";
    case CLI_SEG_FOREIGN: return "foreign";
    case CLI_SEG_CORRUPT: return "corrupt";
    case CLI_SEG_NOACCESS: return "no-access";
    case CLI_SEG_SEMAPHORE: return "semaphore";
    }
    return "?";
}

void cli_json_segment_fields(cli_json *j, const cli_segment *seg) {
    const shma_info *in = &seg->info;
    bool meta = seg->kind == CLI_SEG_SHMANAGER;
    cli_json_key(j, "name");
    cli_json_string(j, in->name);
    cli_json_key(j, "kind");
    cli_json_string(j, cli_seg_kind_name(seg->kind));
    cli_json_key(j, "state");
    cli_json_string(j, cli_seg_state(seg));
    cli_json_key(j, "segment_bytes");
    cli_json_uint(j, in->segment_bytes);
    cli_json_key(j, "dtype");
    if (meta) cli_json_string(j, in->dtype.str); else cli_json_null(j);
    cli_json_key(j, "shape");
    if (meta) cli_json_shape(j, in->ndim, in->shape); else cli_json_null(j);
    cli_json_key(j, "data_bytes");
    if (meta) cli_json_uint(j, in->data_bytes); else cli_json_null(j);
    cli_json_key(j, "creator_pid");
    if (meta) cli_json_int(j, in->creator_pid); else cli_json_null(j);
    cli_json_key(j, "creator_start");
    if (meta) cli_json_uint(j, in->creator_start); else cli_json_null(j);
    cli_json_key(j, "creator_alive");
    if (meta) cli_json_bool(j, in->creator_alive); else cli_json_null(j);
    cli_json_key(j, "error");
    if (seg->error[0]) cli_json_string(j, seg->error); else cli_json_null(j);
}
