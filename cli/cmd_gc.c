/* cmd_gc.c: `shmanager gc`, reap libshmanager segments whose creator has exited. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: shmanager gc [--force] [--json] [--prefix PREFIX]\n"
    "\n"
    "Finds the libshmanager segments whose creator process has exited (state \"gone\" in\n"
    "'shmanager ls'): the creator's pid no longer runs, or runs a process that started at\n"
    "another time (a reused pid). Without --force it only lists them (a dry run).\n"
    "It never touches a foreign segment (one without libshmanager metadata), a corrupt one,\n"
    "or one whose creator still runs. Just before removing a segment it reads its metadata\n"
    "again and keeps it unless the creator is still the same exited process.\n"
    "\n"
    "Options:\n"
    "  -f, --force          remove them\n"
    "  -p, --prefix PREFIX  consider only segments whose name starts with PREFIX\n"
    "  -j, --json           print a JSON object\n"
    "  -h, --help           show this help\n"
    "\n"
    "Liveness is judged from this pid namespace's /proc: do not run gc --force from a\n"
    "container that shares /dev/shm with processes it cannot see.\n"
    "\n"
    "Exit status: 0 listed or removed (also when there was nothing to do); 1 a segment could\n"
    "not be removed (reported on stderr), or /dev/shm is unreadable; 2 usage error.\n";

typedef enum action { WOULD_REMOVE, REMOVED, KEPT, FAILED } action;

static const char *action_name(action a) {
    switch (a) {
    case WOULD_REMOVE: return "would-remove";
    case REMOVED: return "removed";
    case KEPT: return "kept";
    case FAILED: return "failed";
    }
    return "?";
}

typedef struct candidate {
    const cli_segment *seg;
    action act;
    char error[512]; /* why KEPT or FAILED */
} candidate;

static bool is_orphan(const cli_segment *seg) {
    return seg->kind == CLI_SEG_SHMANAGER && !seg->info.creator_alive;
}

/* Reads the segment's metadata again right before unlinking, so a segment whose name was
 * reused since the listing, or whose creator turned out to live, is kept. A race remains
 * between this check and the unlink; it needs the name to be reused within that window. */
static void reap(candidate *cand) {
    const shma_info *was = &cand->seg->info;
    cli_segment now;
    int rc = cli_inspect_segment(was->name, &now);
    if (rc == SHMA_E_NOTFOUND) {
        cand->act = REMOVED; /* someone else removed it meanwhile: the goal is reached */
        return;
    }
    if (rc != SHMA_OK || !is_orphan(&now) || now.info.creator_pid != was->creator_pid ||
        now.info.creator_start != was->creator_start) {
        cand->act = KEPT;
        snprintf(cand->error, sizeof cand->error, "segment '%s' changed since it was listed", was->name);
        return;
    }
    rc = shma_unlink(was->name);
    if (rc == SHMA_OK || rc == SHMA_E_NOTFOUND) {
        cand->act = REMOVED;
        return;
    }
    cand->act = FAILED;
    snprintf(cand->error, sizeof cand->error, "%s", shma_last_error());
    cli_error("%s", cand->error);
}

static void print_table(const candidate *cands, size_t n) {
    static const char *const headers[] = {"NAME", "SIZE", "DTYPE", "SHAPE", "PID", "ACTION"};
    static const bool right[] = {false, true, false, false, true, false};
    cli_table t;
    cli_table_init(&t, 6, headers, right);
    for (size_t i = 0; i < n; i++) {
        const shma_info *in = &cands[i].seg->info;
        char name[4 * SHMA_NAME_MAX + 1], size[24], shape[256], pid[24];
        cli_printable(in->name, name, sizeof name);
        snprintf(size, sizeof size, "%" PRIu64, in->segment_bytes);
        cli_format_shape(shape, sizeof shape, in->ndim, in->shape);
        snprintf(pid, sizeof pid, "%" PRId64, in->creator_pid);
        const char *cells[] = {name, size, in->dtype.str, shape, pid, action_name(cands[i].act)};
        if (!cli_table_add(&t, cells)) {
            cli_error("out of memory");
            break;
        }
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
}

static void print_json(const candidate *cands, size_t n, bool force, size_t count, uint64_t bytes) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j);
    cli_json_key(&j, "dry_run");
    cli_json_bool(&j, !force);
    cli_json_key(&j, "segments");
    cli_json_begin_array(&j);
    for (size_t i = 0; i < n; i++) {
        cli_json_begin_object(&j);
        cli_json_segment_fields(&j, cands[i].seg);
        cli_json_key(&j, "action");
        cli_json_string(&j, action_name(cands[i].act));
        cli_json_key(&j, "action_error");
        if (cands[i].error[0]) cli_json_string(&j, cands[i].error); else cli_json_null(&j);
        cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    /* What was removed, or with dry_run what --force would remove. */
    cli_json_key(&j, "count");
    cli_json_uint(&j, count);
    cli_json_key(&j, "bytes");
    cli_json_uint(&j, bytes);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"prefix", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false, json = false;
    const char *prefix = "";
    int c;
    while ((c = cli_getopt("gc", argc, argv, "fp:jh", opts)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        case 'p': prefix = optarg[0] == '/' ? optarg + 1 : optarg; break;
        case 'j': json = true; break;
        case 'h': return cli_help(&cli_cmd_gc);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_usage_error("gc", "unexpected argument '%s'", argv[optind]);

    cli_segment *segs;
    size_t nsegs;
    if (!cli_list_segments(false, &segs, &nsegs)) return CLI_EXIT_FAIL;
    candidate *cands = calloc(nsegs ? nsegs : 1, sizeof *cands);
    if (!cands) {
        free(segs);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    size_t n = 0, count = 0;
    uint64_t bytes = 0;
    int status = CLI_EXIT_OK;
    for (size_t i = 0; i < nsegs; i++) {
        if (!is_orphan(&segs[i]) || strncmp(segs[i].info.name, prefix, strlen(prefix)) != 0) continue;
        candidate *cand = &cands[n++];
        cand->seg = &segs[i];
        cand->act = WOULD_REMOVE;
        if (force) reap(cand);
        if (cand->act == FAILED) status = CLI_EXIT_FAIL;
        if (cand->act == WOULD_REMOVE || cand->act == REMOVED) {
            count++;
            bytes += segs[i].info.segment_bytes;
        }
    }

    if (json) {
        print_json(cands, n, force, count, bytes);
    } else {
        if (n > 0) print_table(cands, n);
        if (force)
            printf("removed %zu segment%s (%" PRIu64 " bytes)\n", count, count == 1 ? "" : "s", bytes);
        else if (n == 0)
            printf("no segments with an exited creator\n");
        else
            printf("%zu segment%s (%" PRIu64 " bytes) with an exited creator; "
                   "'shmanager gc --force' removes them\n", count, count == 1 ? "" : "s", bytes);
    }
    free(cands);
    free(segs);
    return status;
}

const cli_command cli_cmd_gc = {"gc", "remove libshmanager segments whose creator has exited (dry run unless --force)",
                                help, run};
