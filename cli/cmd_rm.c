/* cmd_rm.c: `shmanager rm NAME...`, unlink segments by name, as ipcrm does. */
#include "cli.h"

static const char help[] =
    "usage: shmanager rm [--verbose] NAME...\n"
    "\n"
    "Removes (unlinks) each named segment, whatever made it: libshmanager's own and foreign\n"
    "ones alike. NAME may start with '/'. Processes that have the segment mapped keep their\n"
    "mapping; its memory is freed when the last of them unmaps it.\n"
    "\n"
    "Options:\n"
    "  -v, --verbose  print \"removed NAME\" for each segment removed\n"
    "  -h, --help     show this help\n"
    "\n"
    "Exit status: 0 all removed; 1 some could not be (each one reported on stderr, the others\n"
    "are still removed); 2 usage error, including an invalid name.\n";

static int run(int argc, char **argv) {
    static const struct option opts[] = {
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool verbose = false;
    int c;
    while ((c = cli_getopt("rm", argc, argv, "vh", opts)) != -1) {
        switch (c) {
        case 'v': verbose = true; break;
        case 'h': return cli_help(&cli_cmd_rm);
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc) return cli_usage_error("rm", "missing segment NAME");

    /* The worst outcome wins: a usage error (an invalid name) over a failure over success. */
    int status = CLI_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        int rc = shma_unlink(argv[i]);
        if (rc == SHMA_OK) {
            if (verbose) {
                char name[4 * SHMA_NAME_MAX + 1];
                cli_printable(argv[i][0] == '/' ? argv[i] + 1 : argv[i], name, sizeof name);
                printf("removed %s\n", name);
            }
            continue;
        }
        int s = cli_lib_error(rc);
        if (s > status) status = s;
    }
    return status;
}

const cli_command cli_cmd_rm = {"rm", "remove segments by name", help, run};
