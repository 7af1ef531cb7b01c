/* cmd_create.c: `shmanager create`, a test array with the seeded fill, left in /dev/shm. */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: shmanager create [NAME] --shape SHAPE [--dtype DTYPE] [--seed SEED] [--hold] [--json]\n"
    "\n"
    "Makes a libshmanager array filled with the seeded test fill and prints its name, handle\n"
    "and data checksum, so that another binding can attach it and check what it reads (or\n"
    "make the same array itself and check it with 'shmanager verify'). Without NAME the\n"
    "segment gets a fresh random name (shma_ and 24 hex digits); a NAME in use is an error.\n"
    "\n"
    "Options:\n"
    "  -s, --shape SHAPE  comma-separated dimensions: 100,200 or \"(100, 200)\"; '' or () is 0-d\n"
    "  -d, --dtype DTYPE  a NumPy dtype string (default float64): bool, int8..int64,\n"
    "                     uint8..uint64, float16/32/64, complex64/128, M8[unit], m8[unit], with\n"
    "                     any byte order (\">i4\")\n"
    "  -S, --seed SEED    the fill's seed, 0..2^64-1, decimal or 0x-hex (default 0)\n"
    "      --hold         keep running, owning the segment, until SIGINT (Ctrl-C), SIGTERM or\n"
    "                     SIGHUP, then remove it and exit 0\n"
    "  -j, --json         print a JSON object\n"
    "  -h, --help         show this help\n"
    "\n"
    "Lifetime: without --hold the segment stays in /dev/shm after this command exits, until\n"
    "'shmanager rm NAME'. Its creator (this command) has then exited, so 'shmanager ls' shows it\n"
    "as \"gone\" and 'shmanager gc --force' removes it. With --hold its creator lives, gc leaves\n"
    "it alone, and it goes away when the command is stopped (a SIGKILL leaves it for gc).\n"
    "\n"
    "The fill. r(k) is the k-th output (k = 0, 1, ...) of splitmix64 seeded with SEED:\n"
    "    z = SEED + (k + 1) * 0x9e3779b97f4a7c15              (all mod 2^64)\n"
    "    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9\n"
    "    z = (z ^ (z >> 27)) * 0x94d049bb133111eb\n"
    "    r(k) = z ^ (z >> 31)\n"
    "Element i, counting in C (row-major) order, is, by the dtype's kind:\n"
    "    bool                      r(i) & 1\n"
    "    int, uint, datetime       the low 8 x itemsize bits of r(i) (two's complement)\n"
    "    float16/32/64             (r(i) >> 53) * 2^-11, (r(i) >> 40) * 2^-24, (r(i) >> 11) * 2^-53\n"
    "    complex64/128             real part from r(2i), imaginary part from r(2i+1), each by\n"
    "                              the float32/float64 rule\n"
    "stored in the dtype's byte order. Every value is exact in its dtype (floats lie in [0, 1)).\n"
    "The checksum is FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the\n"
    "data bytes as stored, printed as 16 hex digits.\n"
    "\n"
    "Exit status: 0 created; 1 the name is taken or the memory is not there; 2 usage error.\n";

/* Blocks the signals that end --hold, so that one arriving at any point is left pending for
 * sigwait() instead of killing the process before it has removed its segment. */
static void block_hold_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigprocmask(SIG_BLOCK, set, NULL);
}

static void print_result(const shma_array *arr, uint64_t seed, uint64_t checksum, bool json) {
    char handle[SHMA_HANDLE_MAX], shape[2048];
    if (shma_handle_encode(arr, handle, sizeof handle, NULL) != SHMA_OK) handle[0] = '\0';
    if (json) {
        char sum[17];
        snprintf(sum, sizeof sum, "%016" PRIx64, checksum);
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j);
        cli_json_key(&j, "name");
        cli_json_string(&j, shma_name(arr));
        cli_json_key(&j, "handle");
        cli_json_string(&j, handle);
        cli_json_key(&j, "dtype");
        cli_json_string(&j, shma_dtype_str(arr));
        cli_json_key(&j, "shape");
        cli_json_shape(&j, shma_ndim(arr), shma_shape(arr));
        cli_json_key(&j, "data_bytes");
        cli_json_uint(&j, shma_nbytes(arr));
        cli_json_key(&j, "seed");
        cli_json_uint(&j, seed);
        cli_json_key(&j, "checksum_algorithm");
        cli_json_string(&j, CLI_CHECKSUM_NAME);
        cli_json_key(&j, "checksum");
        cli_json_string(&j, sum);
        cli_json_end_object(&j);
        cli_json_finish(&j);
        return;
    }
    char name[4 * SHMA_NAME_MAX + 1];
    cli_printable(shma_name(arr), name, sizeof name);
    cli_format_shape(shape, sizeof shape, shma_ndim(arr), shma_shape(arr));
    cli_kv("name", "%s", name);
    cli_kv("handle", "%s", handle);
    cli_kv("dtype", "%s", shma_dtype_str(arr));
    cli_kv("shape", "%s", shape);
    cli_kv("data_bytes", "%zu", shma_nbytes(arr));
    cli_kv("seed", "%" PRIu64, seed);
    cli_kv("checksum", "%016" PRIx64 " (" CLI_CHECKSUM_NAME " of %zu bytes)", checksum, shma_nbytes(arr));
}

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'},
        {"dtype", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 'S'},
        {"hold", no_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *shape_arg = NULL, *dtype_arg = "float64";
    uint64_t seed = 0;
    bool hold = false, json = false;
    int c;
    while ((c = cli_getopt("create", argc, argv, "s:d:S:jh", opts)) != -1) {
        switch (c) {
        case 's': shape_arg = optarg; break;
        case 'd': dtype_arg = optarg; break;
        case 'S':
            if (!cli_parse_u64(optarg, &seed))
                return cli_usage_error("create", "--seed '%s' is not a number in 0..2^64-1", optarg);
            break;
        case 'H': hold = true; break;
        case 'j': json = true; break;
        case 'h': return cli_help(&cli_cmd_create);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) return cli_usage_error("create", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = optind < argc ? argv[optind] : NULL;
    if (shape_arg == NULL) return cli_usage_error("create", "missing --shape");
    int ndim;
    int64_t shape[SHMA_MAX_NDIM];
    char why[512];
    if (!cli_parse_shape(shape_arg, &ndim, shape, why, sizeof why)) return cli_usage_error("create", "%s", why);
    shma_dtype dtype;
    int rc = shma_dtype_parse(dtype_arg, &dtype);
    if (rc != SHMA_OK) return cli_lib_error(rc);
    if (!cli_fill_supported(&dtype, why, sizeof why)) return cli_usage_error("create", "%s", why);

    sigset_t hold_signals;
    if (hold) block_hold_signals(&hold_signals);
    shma_alloc_opts alloc = {.name = name, .flags = 0};
    shma_array *arr = NULL;
    rc = shma_allocate_ex(NULL, ndim, shape, dtype.str, &alloc, &arr);
    if (rc != SHMA_OK) return cli_lib_error(rc);
    cli_fill(shma_data(arr), &dtype, shma_nbytes(arr) / dtype.itemsize, seed);
    print_result(arr, seed, cli_fnv1a64(CLI_FNV1A64_INIT, shma_data(arr), shma_nbytes(arr)), json);

    if (!hold) {
        /* Left in place for later processes: `gc` reaps it once this one has exited. */
        rc = shma_disown(arr);
        if (rc == SHMA_OK) rc = shma_close(&arr);
        return rc == SHMA_OK ? CLI_EXIT_OK : cli_lib_error(rc);
    }
    fflush(stdout); /* whoever waits for the segment reads this line before we block */
    if (isatty(STDERR_FILENO)) {
        char shown[4 * SHMA_NAME_MAX + 1];
        cli_printable(shma_name(arr), shown, sizeof shown);
        fprintf(stderr, "shmanager: holding '%s'; Ctrl-C removes it and exits\n", shown);
    }
    int sig;
    while (sigwait(&hold_signals, &sig) != 0) continue;
    rc = shma_close(&arr);
    if (rc != SHMA_OK) return cli_lib_error(rc);
    return CLI_EXIT_OK;
}

const cli_command cli_cmd_create = {"create", "make a test array with a seeded fill (for checking bindings)", help,
                                    run};
