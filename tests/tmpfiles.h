/* Temporary files for the C tests: tmp_start("name") makes a mkdtemp directory under /tmp
 * and removes it (with the files written through tmp_write) at exit. */
#ifndef RILL_TEST_TMPFILES_H
#define RILL_TEST_TMPFILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];
static char *tmp_made[128];
static int tmp_nmade;

static void tmp_cleanup(void)
{
    for (int i = 0; i < tmp_nmade; i++) {
        unlink(tmp_made[i]);
        free(tmp_made[i]);
    }
    rmdir(tmp_dir);
}

static inline void tmp_start(const char *name)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/rill-%s-XXXXXX", name);
    if (!mkdtemp(tmp_dir)) {
        printf("Bail out! mkdtemp failed\n");
        exit(1);
    }
    atexit(tmp_cleanup);
}

/* Writes text to NAME in the directory; returns its path (valid until exit). */
static inline const char *tmp_write(const char *name, const char *text)
{
    char *path = malloc(strlen(tmp_dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    size_t n = strlen(text);
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0 ||
        tmp_nmade == (int)(sizeof tmp_made / sizeof tmp_made[0])) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
    tmp_made[tmp_nmade++] = path;
    return path;
}

#endif
