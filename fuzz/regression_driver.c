/*
 * regression_driver.c: a main() for the fuzz targets built without libFuzzer (zstd's
 * tests/fuzz/regression_driver.c). It runs LLVMFuzzerTestOneInput once on every file named on
 * the command line and on every regular file inside each directory named there (one level, in
 * name order, so a run is reproducible), which replays the committed corpora and every past
 * crash as an ordinary test under ASan+UBSan. A failing input aborts (FUZZ_ASSERT) or is
 * reported by a sanitizer; the file being run is printed first, so the culprit is named.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t files_run;

/* Reads a whole file into a malloc'd buffer of exactly its size (so ASan catches a target
 * reading one byte past the input, as libFuzzer would). Returns 0 or an errno. */
static int read_file(const char *path, uint8_t **out, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return errno;
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    int err = 0;
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (bigger == NULL) free(buf);
            buf = bigger;
        }
    }
    if (buf == NULL) err = ENOMEM;
    else if (ferror(f)) err = EIO;
    fclose(f);
    if (err != 0) {
        free(buf);
        return err;
    }
    /* Exactly len bytes; a zero-byte input still gets a valid (1-byte) allocation. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact == NULL) {
        free(buf);
        return ENOMEM;
    }
    memcpy(exact, buf, len);
    free(buf);
    *out = exact;
    *size = len;
    return 0;
}

static int run_file(const char *path) {
    uint8_t *data;
    size_t size;
    int err = read_file(path, &data, &size);
    if (err != 0) {
        fprintf(stderr, "regression_driver: cannot read %s: %s\n", path, strerror(err));
        return 1;
    }
    /* Flushed before the run: if the input crashes, its name is already on the log. */
    fprintf(stderr, "running %s (%zu bytes)\n", path, size);
    fflush(stderr);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    files_run++;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "regression_driver: cannot open %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (count == cap) {
            char **bigger = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (bigger == NULL) {
                failed = 1;
                break;
            }
            names = bigger;
        }
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        names[count] = malloc(n);
        if (names[count] == NULL) {
            failed = 1;
            break;
        }
        snprintf(names[count], n, "%s/%s", dir, e->d_name);
        count++;
    }
    closedir(d);
    if (count > 0) qsort(names, count, sizeof *names, by_name);
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (!failed && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) failed |= run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return failed;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n  runs the fuzz target once on each file\n", argv[0]);
        return 2;
    }
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "regression_driver: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
        } else if (S_ISDIR(st.st_mode)) {
            failed |= run_dir(argv[i]);
        } else {
            failed |= run_file(argv[i]);
        }
    }
    fprintf(stderr, "regression_driver: %zu inputs run%s\n", files_run, failed ? ", with errors" : "");
    return failed;
}
