/*
 * main.c: `shmanager`, the command-line tool: list, inspect and remove shared-memory segments,
 * reap those whose creator has exited, and make and check seeded test arrays.
 *
 * One file per subcommand (cmd_*.c); this one reads the global options and dispatches.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cli_cmd_ls, &cli_cmd_inspect, &cli_cmd_rm, &cli_cmd_gc, &cli_cmd_create, &cli_cmd_verify,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_usage(FILE *f) {
    fputs("usage: shmanager [--help] [--version] COMMAND [ARGS...]\n"
          "\n"
          "Lists, inspects and removes POSIX shared-memory segments (/dev/shm), reaps the ones\n"
          "libshmanager made whose creator has exited, and makes and checks seeded test arrays.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fputs("  help      show a command's help: shmanager help COMMAND\n"
          "\n"
          "Exit status: 0 success; 1 failure (no such segment, data mismatch, permission, ...);\n"
          "2 usage error. Errors go to stderr as \"shmanager: <detail>\".\n"
          "Run 'shmanager COMMAND --help' for a command's options.\n",
          f);
}

static int run_help(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2) return cli_usage_error("help", "expected one command name, got %d", argc - 1);
    const cli_command *cmd = find_command(argv[1]);
    if (!cmd) return cli_usage_error("help", "unknown command '%s'", argv[1]);
    return cli_help(cmd);
}

static int dispatch(int argc, char **argv) {
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* '+': stop at the command name, whose own options come after it. */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("shmanager %s (libshmanager %s)\n", shma_version(), shma_version());
            return CLI_EXIT_OK;
        default:
            if (optopt != 0)
                cli_error("unknown option '-%c'", optopt);
            else
                cli_error("unknown option '%s'", argv[optind - 1]);
            fputs("Try 'shmanager --help'.\n", stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char **sub_argv = argv + optind;
    int sub_argc = argc - optind;
    optind = 0; /* glibc: 0 re-initialises getopt for the command's argv */
    if (strcmp(sub_argv[0], "help") == 0) return run_help(sub_argc, sub_argv);
    const cli_command *cmd = find_command(sub_argv[0]);
    if (!cmd) {
        cli_error("unknown command '%s'", sub_argv[0]);
        fputs("Try 'shmanager --help'.\n", stderr);
        return CLI_EXIT_USAGE;
    }
    return cmd->run(sub_argc, sub_argv);
}

int main(int argc, char **argv) {
    int status = dispatch(argc, argv);
    /* Output that could not be written (a full disk, a closed pipe with SIGPIPE ignored) is a
     * failure, not a silent success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write output: %s", strerror(errno));
        if (status == CLI_EXIT_OK) status = CLI_EXIT_FAIL;
    }
    return status;
}
