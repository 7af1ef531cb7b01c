/* cmd_inspect.c: `shmanager inspect NAME`, one segment's metadata and a checksum of its data. */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static const char help[] =
    "usage: shmanager inspect [--json] [--no-checksum] NAME\n"
    "\n"
    "Shows a segment's metadata (kind, size, dtype, shape, creator, the handle to attach it\n"
    "with) and the FNV-1a 64 checksum of its data: of the array's data bytes for a libshmanager\n"
    "segment, of the whole segment for a foreign or corrupt one. NAME may start with '/'.\n"
    "The data is read through a mapping and never written.\n"
    "\n"
    "Options:\n"
    "  -j, --json         print a JSON object\n"
    "  -n, --no-checksum  skip reading the data (for very large segments)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 the segment was read (whatever its kind, corrupt included); 1 no such\n"
    "segment, or it cannot be opened; 2 usage error (an invalid name included).\n";

/* What `inspect` adds to the metadata: the handle and the data checksum. */
typedef struct extra {
    char handle[SHMA_HANDLE_MAX];
    bool have_checksum;
    uint64_t checksum, checksum_bytes;
} extra;

/* Maps the segment and checksums its data, as its kind allows. */
static int read_data(const char *name, const cli_segment *seg, bool want_checksum, extra *x) {
    shma_array *arr = NULL;
    int64_t all_bytes = (int64_t)seg->info.segment_bytes;
    int rc;
    if (seg->kind == CLI_SEG_SHMANAGER)
        rc = shma_attach_name(name, &arr);
    else if (seg->kind == CLI_SEG_FOREIGN)
        rc = shma_attach(name, 1, &all_bytes, "u1", &arr);
    else /* corrupt: the metadata cannot be trusted, so read the raw bytes without it */
        rc = shma_attach_unsafe(name, 1, &all_bytes, "u1", &arr);
    if (rc != SHMA_OK) return rc;
    if (seg->kind == CLI_SEG_SHMANAGER) rc = shma_handle_encode(arr, x->handle, sizeof x->handle, NULL);
    if (rc == SHMA_OK && want_checksum) {
        x->have_checksum = true;
        x->checksum_bytes = shma_nbytes(arr);
        x->checksum = cli_fnv1a64(CLI_FNV1A64_INIT, shma_data(arr), shma_nbytes(arr));
    }
    shma_close(&arr);
    return rc;
}

static void print_plain(const cli_segment *seg, const extra *x) {
    const shma_info *in = &seg->info;
    char name[4 * SHMA_NAME_MAX + 1];
    cli_printable(in->name, name, sizeof name);
    cli_kv("name", "%s", name);
    cli_kv("kind", "%s", cli_seg_kind_name(seg->kind));
    cli_kv("state", "%s", cli_seg_state(seg));
    cli_kv("segment_bytes", "%" PRIu64, in->segment_bytes);
    if (seg->kind == CLI_SEG_SHMANAGER) {
        char shape[2048];
        cli_format_shape(shape, sizeof shape, in->ndim, in->shape);
        cli_kv("dtype", "%s", in->dtype.str);
        cli_kv("shape", "%s", shape);
        cli_kv("data_bytes", "%" PRIu64, in->data_bytes);
        cli_kv("creator_pid", "%" PRId64, in->creator_pid);
        cli_kv("creator_start", "%" PRIu64, in->creator_start);
        cli_kv("creator_alive", "%s", in->creator_alive ? "yes" : "no");
        cli_kv("handle", "%s", x->handle);
    }
    if (seg->error[0]) cli_kv("error", "%s", seg->error);
    if (x->have_checksum)
        cli_kv("checksum", "%016" PRIx64 " (" CLI_CHECKSUM_NAME " of %" PRIu64 " bytes)", x->checksum,
               x->checksum_bytes);
}

static void print_json(const cli_segment *seg, const extra *x) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j);
    cli_json_segment_fields(&j, seg);
    cli_json_key(&j, "handle");
    if (x->handle[0]) cli_json_string(&j, x->handle); else cli_json_null(&j);
    cli_json_key(&j, "checksum_algorithm");
    cli_json_string(&j, CLI_CHECKSUM_NAME);
    char sum[17];
    snprintf(sum, sizeof sum, "%016" PRIx64, x->checksum);
    cli_json_key(&j, "checksum");
    if (x->have_checksum) cli_json_string(&j, sum); else cli_json_null(&j);
    cli_json_key(&j, "checksum_bytes");
    if (x->have_checksum) cli_json_uint(&j, x->checksum_bytes); else cli_json_null(&j);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"no-checksum", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, want_checksum = true;
    int c;
    while ((c = cli_getopt("inspect", argc, argv, "jnh", opts)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'n': want_checksum = false; break;
        case 'h': return cli_help(&cli_cmd_inspect);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc) return cli_usage_error("inspect", "missing segment NAME");
    if (argc - optind > 1) return cli_usage_error("inspect", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = argv[optind];

    cli_segment seg;
    int rc = cli_inspect_segment(name, &seg);
    if (rc != SHMA_OK) return cli_lib_error(rc);
    extra x;
    memset(&x, 0, sizeof x);
    rc = read_data(name, &seg, want_checksum, &x);
    if (rc != SHMA_OK) return cli_lib_error(rc);
    if (json)
        print_json(&seg, &x);
    else
        print_plain(&seg, &x);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_inspect = {"inspect", "show a segment's metadata and data checksum", help, run};
