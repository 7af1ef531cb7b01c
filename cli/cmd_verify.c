/* cmd_verify.c: `shmanager verify NAME`, check an array against the seeded fill. */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static const char help[] =
    "usage: shmanager verify NAME [--seed SEED] [--shape SHAPE --dtype DTYPE] [--json]\n"
    "\n"
    "Attaches the array NAME and checks that its data is the seeded test fill of\n"
    "'shmanager create' (see 'shmanager create --help' for its definition) for SEED. By default\n"
    "shape and dtype come from the segment's libshmanager metadata; with --shape and --dtype\n"
    "(both) the array is attached with them instead, which is how to check a segment some\n"
    "other program made (a foreign segment: its size must suffice) or to check that a\n"
    "libshmanager segment has exactly that shape and dtype (otherwise attaching fails).\n"
    "\n"
    "Options:\n"
    "  -S, --seed SEED    the fill's seed, decimal or 0x-hex (default 0)\n"
    "  -s, --shape SHAPE  the shape to attach with: 100,200 or \"(100, 200)\"; '' or () is 0-d\n"
    "  -d, --dtype DTYPE  the dtype to attach with, a NumPy dtype string\n"
    "  -j, --json         print a JSON object\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 the data is the fill; 1 it differs (the first differing element is named),\n"
    "or the segment is missing, has no metadata (give --shape and --dtype), or does not match\n"
    "the given shape and dtype; 2 usage error.\n";

/* What the comparison found. */
typedef struct outcome {
    uint64_t elements, mismatches, first_mismatch;
    uint64_t checksum, expected_checksum;
} outcome;

static void compare(const shma_array *arr, const shma_dtype *dtype, uint64_t seed, outcome *out) {
    const unsigned char *p = shma_data(arr);
    uint32_t size = dtype->itemsize;
    unsigned char want[16];
    memset(out, 0, sizeof *out);
    out->elements = shma_nbytes(arr) / size;
    out->checksum = out->expected_checksum = CLI_FNV1A64_INIT;
    for (uint64_t i = 0; i < out->elements; i++, p += size) {
        cli_fill_element(dtype, seed, i, want);
        if (memcmp(p, want, size) != 0 && out->mismatches++ == 0) out->first_mismatch = i;
        out->checksum = cli_fnv1a64(out->checksum, p, size);
        out->expected_checksum = cli_fnv1a64(out->expected_checksum, want, size);
    }
}

/* The multi-index of flat C-order element `flat`. */
static void unravel(const shma_array *arr, uint64_t flat, int64_t index[SHMA_MAX_NDIM]) {
    const int64_t *shape = shma_shape(arr);
    for (int d = shma_ndim(arr) - 1; d >= 0; d--) {
        index[d] = (int64_t)(flat % (uint64_t)shape[d]);
        flat /= (uint64_t)shape[d];
    }
}

/* The same, spelt "(i, j)". */
static void format_index(char *buf, size_t cap, const shma_array *arr, uint64_t flat) {
    int64_t index[SHMA_MAX_NDIM];
    unravel(arr, flat, index);
    cli_format_shape(buf, cap, shma_ndim(arr), index);
}

static void print_plain(const shma_array *arr, uint64_t seed, const outcome *o) {
    char name[4 * SHMA_NAME_MAX + 1], shape[2048];
    cli_printable(shma_name(arr), name, sizeof name);
    cli_format_shape(shape, sizeof shape, shma_ndim(arr), shma_shape(arr));
    cli_kv("name", "%s", name);
    cli_kv("dtype", "%s", shma_dtype_str(arr));
    cli_kv("shape", "%s", shape);
    cli_kv("seed", "%" PRIu64, seed);
    cli_kv("checksum", "%016" PRIx64 " (" CLI_CHECKSUM_NAME " of %zu bytes)", o->checksum, shma_nbytes(arr));
    cli_kv("expected", "%016" PRIx64, o->expected_checksum);
    cli_kv("mismatches", "%" PRIu64 " of %" PRIu64 " elements", o->mismatches, o->elements);
    if (o->mismatches > 0) {
        char index[2048];
        format_index(index, sizeof index, arr, o->first_mismatch);
        cli_kv("first_mismatch", "%s (element %" PRIu64 " in C order)", index, o->first_mismatch);
    }
    cli_kv("result", "%s", o->mismatches == 0 ? "ok" : "mismatch");
}

static void print_json(const shma_array *arr, uint64_t seed, const outcome *o) {
    char sum[17], expected[17];
    snprintf(sum, sizeof sum, "%016" PRIx64, o->checksum);
    snprintf(expected, sizeof expected, "%016" PRIx64, o->expected_checksum);
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_begin_object(&j);
    cli_json_key(&j, "name");
    cli_json_string(&j, shma_name(arr));
    cli_json_key(&j, "dtype");
    cli_json_string(&j, shma_dtype_str(arr));
    cli_json_key(&j, "shape");
    cli_json_shape(&j, shma_ndim(arr), shma_shape(arr));
    cli_json_key(&j, "seed");
    cli_json_uint(&j, seed);
    cli_json_key(&j, "checksum_algorithm");
    cli_json_string(&j, CLI_CHECKSUM_NAME);
    cli_json_key(&j, "checksum");
    cli_json_string(&j, sum);
    cli_json_key(&j, "expected_checksum");
    cli_json_string(&j, expected);
    cli_json_key(&j, "elements");
    cli_json_uint(&j, o->elements);
    cli_json_key(&j, "mismatched_elements");
    cli_json_uint(&j, o->mismatches);
    cli_json_key(&j, "first_mismatch");
    if (o->mismatches > 0) {
        int64_t index[SHMA_MAX_NDIM];
        unravel(arr, o->first_mismatch, index);
        cli_json_shape(&j, shma_ndim(arr), index);
    } else {
        cli_json_null(&j);
    }
    cli_json_key(&j, "ok");
    cli_json_bool(&j, o->mismatches == 0);
    cli_json_end_object(&j);
    cli_json_finish(&j);
}

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 'S'},
        {"shape", required_argument, NULL, 's'},
        {"dtype", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *shape_arg = NULL, *dtype_arg = NULL;
    uint64_t seed = 0;
    bool json = false;
    int c;
    while ((c = cli_getopt("verify", argc, argv, "S:s:d:jh", opts)) != -1) {
        switch (c) {
        case 'S':
            if (!cli_parse_u64(optarg, &seed))
                return cli_usage_error("verify", "--seed '%s' is not a number in 0..2^64-1", optarg);
            break;
        case 's': shape_arg = optarg; break;
        case 'd': dtype_arg = optarg; break;
        case 'j': json = true; break;
        case 'h': return cli_help(&cli_cmd_verify);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc) return cli_usage_error("verify", "missing segment NAME");
    if (argc - optind > 1) return cli_usage_error("verify", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = argv[optind];
    if ((shape_arg == NULL) != (dtype_arg == NULL))
        return cli_usage_error("verify", "--shape and --dtype go together: give both or neither");

    shma_array *arr = NULL;
    shma_dtype dtype;
    char why[512];
    int rc;
    if (shape_arg != NULL) {
        int ndim;
        int64_t shape[SHMA_MAX_NDIM];
        if (!cli_parse_shape(shape_arg, &ndim, shape, why, sizeof why)) return cli_usage_error("verify", "%s", why);
        rc = shma_dtype_parse(dtype_arg, &dtype);
        if (rc != SHMA_OK) return cli_lib_error(rc);
        if (!cli_fill_supported(&dtype, why, sizeof why)) return cli_usage_error("verify", "%s", why);
        rc = shma_attach(name, ndim, shape, dtype.str, &arr);
    } else {
        rc = shma_attach_name(name, &arr);
        if (rc == SHMA_E_NOMETA) {
            cli_error("%s; 'shmanager verify' does that with --shape and --dtype", shma_last_error());
            return CLI_EXIT_FAIL;
        }
    }
    if (rc != SHMA_OK) return cli_lib_error(rc);
    /* The dtype as attached, which for an attach by name is the segment's. */
    char shown[4 * SHMA_NAME_MAX + 1];
    cli_printable(shma_name(arr), shown, sizeof shown);
    rc = shma_dtype_parse(shma_dtype_str(arr), &dtype);
    if (rc != SHMA_OK || !cli_fill_supported(&dtype, why, sizeof why)) {
        if (rc != SHMA_OK) snprintf(why, sizeof why, "%s", shma_last_error());
        cli_error("cannot verify '%s': %s", shown, why);
        shma_close(&arr);
        return CLI_EXIT_FAIL;
    }

    outcome o;
    compare(arr, &dtype, seed, &o);
    if (json)
        print_json(arr, seed, &o);
    else
        print_plain(arr, seed, &o);
    if (o.mismatches > 0) {
        char index[2048];
        format_index(index, sizeof index, arr, o.first_mismatch);
        cli_error("'%s' is not the fill of seed %" PRIu64 ": %" PRIu64 " of %" PRIu64 " elements differ, the first at %s",
                  shown, seed, o.mismatches, o.elements, index);
    }
    shma_close(&arr);
    return o.mismatches == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const cli_command cli_cmd_verify = {"verify", "check an array against the seeded fill of 'create'", help, run};
