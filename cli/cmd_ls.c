/* cmd_ls.c: `shmanager ls`, the segments in /dev/shm. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>

static const char help[] =
    "usage: shmanager ls [--json] [--all]\n"
    "\n"
    "Lists the shared-memory segments in /dev/shm, sorted by name: libshmanager's own, with\n"
    "dtype, shape and creator pid read from their metadata, and foreign ones (made by other\n"
    "programs, e.g. Python's multiprocessing.shared_memory), which have no metadata.\n"
    "\n"
    "Options:\n"
    "  -a, --all    also list POSIX named semaphores (the sem.* files in /dev/shm)\n"
    "  -j, --json   print a JSON array, one object per segment\n"
    "  -h, --help   show this help\n"
    "\n"
    "The STATE column:\n"
    "  alive      a libshmanager segment whose creator process still runs\n"
    "  gone       a libshmanager segment whose creator has exited ('shmanager gc' reaps it)\n"
    "  foreign    no libshmanager metadata; never touched by gc\n"
    "  corrupt    libshmanager metadata that fails its checks ('shmanager inspect' says why)\n"
    "  no-access  could not be opened (another user's segment)\n"
    "  semaphore  a named semaphore (with --all)\n"
    "SIZE is the whole segment in bytes (data, padding and the 640-byte metadata trailer).\n"
    "\n"
    "Exit status: 0 listed (even if nothing is there), 1 /dev/shm unreadable, 2 usage error.\n";

static void print_table(const cli_segment *segs, size_t n) {
    static const char *const headers[] = {"NAME", "SIZE", "DTYPE", "SHAPE", "PID", "STATE"};
    static const bool right[] = {false, true, false, false, true, false};
    cli_table t;
    cli_table_init(&t, 6, headers, right);
    for (size_t i = 0; i < n; i++) {
        const cli_segment *s = &segs[i];
        bool meta = s->kind == CLI_SEG_SHMANAGER;
        char name[4 * SHMA_NAME_MAX + 1], size[24], shape[256] = "-", pid[24] = "-";
        cli_printable(s->info.name, name, sizeof name);
        snprintf(size, sizeof size, "%" PRIu64, s->info.segment_bytes);
        if (meta) {
            cli_format_shape(shape, sizeof shape, s->info.ndim, s->info.shape);
            snprintf(pid, sizeof pid, "%" PRId64, s->info.creator_pid);
        }
        const char *cells[] = {name, size, meta ? s->info.dtype.str : "-", shape, pid, cli_seg_state(s)};
        if (!cli_table_add(&t, cells)) {
            cli_error("out of memory");
            break;
        }
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
}

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool all = false, json = false;
    int c;
    while ((c = cli_getopt("ls", argc, argv, "ajh", opts)) != -1) {
        switch (c) {
        case 'a': all = true; break;
        case 'j': json = true; break;
        case 'h': return cli_help(&cli_cmd_ls);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);

    cli_segment *segs;
    size_t n;
    if (!cli_list_segments(all, &segs, &n)) return CLI_EXIT_FAIL;
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_array(&j);
        for (size_t i = 0; i < n; i++) {
            cli_json_begin_object(&j);
            cli_json_segment_fields(&j, &segs[i]);
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_finish(&j);
    } else {
        print_table(segs, n);
    }
    free(segs);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_ls = {"ls", "list the segments in /dev/shm with dtype, shape and creator", help, run};
