/*
 * cli.h: what the files of the `shmanager` command-line tool share. The tool uses only the
 * library's public header; everything here is the tool's own (option parsing, output
 * formatting, the seeded test fill), never linked into libshmanager.
 */
#ifndef SHMA_CLI_H
#define SHMA_CLI_H

#include "shmanager.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses, as ipcs/ipcrm users expect: success, an operational failure (not found,
 * mismatch, permission), a command line that could not be understood. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* ---------------------------------------------------------------------------------------------
 * Subcommands (cmd_*.c). Each gets argv with argv[0] the subcommand's name and returns an exit
 * status; each has a --help text.
 * ------------------------------------------------------------------------------------------- */

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for the tool's --help */
    const char *help;    /* the subcommand's --help, ending in a newline */
    int (*run)(int argc, char **argv);
} cli_command;

extern const cli_command cli_cmd_ls, cli_cmd_inspect, cli_cmd_rm, cli_cmd_gc, cli_cmd_create, cli_cmd_verify;

/* ---------------------------------------------------------------------------------------------
 * Errors and options (util.c)
 * ------------------------------------------------------------------------------------------- */

/* Prints "shmanager: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "shmanager: CMD: <message>" and a pointer to CMD's --help on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a failed library call `rc` as "shmanager: <shma_last_error()>" and returns the exit
 * status it maps to: CLI_EXIT_USAGE for errors in what the user typed (a bad name, dtype or
 * shape), CLI_EXIT_FAIL for everything else. */
int cli_lib_error(int rc);

/* getopt_long() with the tool's error messages. Returns the option's value, -1 after the last
 * option (optind then indexes the first operand), or '?' after printing a usage error for an
 * unknown option or a missing value. Call with optind = 0 before the first use on a new argv. */
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts);

/* Prints a subcommand's help on stdout and returns CLI_EXIT_OK. */
int cli_help(const cli_command *cmd);

/* Parses a decimal or 0x-hex unsigned 64-bit number, all of `s`. */
bool cli_parse_u64(const char *s, uint64_t *out);

/* Parses a shape: comma-separated non-negative integers, optionally in parentheses, spaces
 * allowed, a trailing comma allowed: "100,200", "(100, 200)", "(5,)"; "" or "()" is 0-d.
 * On failure writes the reason to why. */
bool cli_parse_shape(const char *s, int *ndim, int64_t shape[SHMA_MAX_NDIM], char *why, size_t why_cap);

/* NumPy's spelling of a shape: "(100, 200)", "(5,)", "()". Truncated with "..." if cap is too
 * small. */
void cli_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

/* ---------------------------------------------------------------------------------------------
 * Output (out.c)
 * ------------------------------------------------------------------------------------------- */

/* Copies a segment name for a terminal: control bytes, bytes that are not UTF-8 and the
 * backslash become \xNN, so nothing in a name can move the cursor or break a column. */
void cli_printable(const char *s, char *buf, size_t cap);

/* Prints "KEY  value" on stdout with keys padded to one width: the plain output of commands
 * that describe one thing (inspect, create, verify). */
void cli_kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A table: a header row and rows of text cells, printed with each column as wide as its
 * widest cell, two spaces apart; right-aligned columns for numbers. */
#define CLI_TABLE_MAX_COLS 16

typedef struct cli_table {
    int ncols;
    const char *const *headers;
    const bool *right; /* ncols flags */
    char **cells;      /* nrows * ncols strings, owned */
    size_t nrows, cap_rows;
} cli_table;

void cli_table_init(cli_table *t, int ncols, const char *const *headers, const bool *right);
/* Adds a row of t->ncols cells (copied). false when out of memory. */
bool cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* A streaming JSON writer that indents by two spaces. Strings are written as valid JSON in
 * UTF-8; a byte that is not part of valid UTF-8 becomes \udcXX (Python's surrogateescape), so
 * os.fsencode() of the decoded name gives the segment's bytes back. */
typedef struct cli_json {
    FILE *f;
    int depth;
    bool need_comma;
    bool after_key;
} cli_json;

void cli_json_init(cli_json *j, FILE *f);
void cli_json_begin_object(cli_json *j);
void cli_json_end_object(cli_json *j);
void cli_json_begin_array(cli_json *j);
void cli_json_end_array(cli_json *j);
void cli_json_key(cli_json *j, const char *key);
void cli_json_string(cli_json *j, const char *s);
void cli_json_int(cli_json *j, int64_t v);
void cli_json_uint(cli_json *j, uint64_t v);
void cli_json_bool(cli_json *j, bool v);
void cli_json_null(cli_json *j);
/* A shape as an array on one line: [100, 200]. */
void cli_json_shape(cli_json *j, int ndim, const int64_t *shape);
/* Ends the document with a newline. */
void cli_json_finish(cli_json *j);

/* ---------------------------------------------------------------------------------------------
 * Segments in /dev/shm (segments.c)
 * ------------------------------------------------------------------------------------------- */

typedef enum cli_seg_kind {
    CLI_SEG_SHMANAGER, /* the library's, metadata read */
    CLI_SEG_FOREIGN,   /* no shmanager metadata */
    CLI_SEG_CORRUPT,   /* metadata magic present but a check failed */
    CLI_SEG_NOACCESS,  /* could not be opened (another user's, mode 0600) */
    CLI_SEG_SEMAPHORE, /* a POSIX named semaphore, sem.NAME */
} cli_seg_kind;

typedef struct cli_segment {
    shma_info info;      /* name and segment_bytes always; the rest when kind is SHMANAGER */
    cli_seg_kind kind;
    char error[512];     /* the detail for CORRUPT and NOACCESS */
} cli_segment;

/* The directory POSIX shared memory lives in on Linux. */
#define CLI_SHM_DIR "/dev/shm"

/* Lists the regular files of /dev/shm, sorted by name, inspecting each (semaphores only when
 * with_semaphores). Entries that vanish while being listed are skipped. On success *out is a
 * malloc'd array of *count entries (free() it). A failure to read the directory is reported
 * on stderr and gives false. */
bool cli_list_segments(bool with_semaphores, cli_segment **out, size_t *count);

/* Inspects one segment into *seg: SHMA_OK for SHMANAGER, FOREIGN, CORRUPT and NOACCESS kinds
 * (kind says which), another code (SHMA_E_NOTFOUND, ...) when there is nothing to show. */
int cli_inspect_segment(const char *name, cli_segment *seg);

/* "alive", "gone", "foreign", "corrupt", "no-access" or "semaphore": the STATE column. */
const char *cli_seg_state(const cli_segment *seg);
/* "shmanager", "foreign", "corrupt", "no-access" or "semaphore": the JSON "kind". */
const char *cli_seg_kind_name(cli_seg_kind kind);

/* Writes the members describing one segment into the JSON object being written: name, kind,
 * state, segment_bytes, dtype, shape, data_bytes, creator_pid, creator_start, creator_alive,
 * error (null where they do not apply). */
void cli_json_segment_fields(cli_json *j, const cli_segment *seg);

/* ---------------------------------------------------------------------------------------------
 * The seeded test fill and the data checksum (fill.c); the definition is in fill.c and
 * cli/README.md.
 * ------------------------------------------------------------------------------------------- */

#define CLI_CHECKSUM_NAME "fnv1a64"
#define CLI_FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* FNV-1a 64 of n bytes, continuing from h (start with CLI_FNV1A64_INIT). */
uint64_t cli_fnv1a64(uint64_t h, const void *data, size_t n);

/* Whether the fill is defined for dtype; if not, why says so. */
bool cli_fill_supported(const shma_dtype *dtype, char *why, size_t why_cap);

/* Writes element `index`'s fill into out[0..itemsize). The dtype must be supported. */
void cli_fill_element(const shma_dtype *dtype, uint64_t seed, uint64_t index, unsigned char *out);

/* Fills nelems elements of a C-contiguous buffer. */
void cli_fill(void *data, const shma_dtype *dtype, uint64_t nelems, uint64_t seed);

#endif /* SHMA_CLI_H */
