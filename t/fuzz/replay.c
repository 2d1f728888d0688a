/* Runs LLVMFuzzerTestOneInput over every file in the directories (or the
 * files) named on the command line, or in the corpus compiled in as
 * EA_FUZZ_CORPUS, so `make check` replays the corpus without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed one file to the target; returns 1 when it ran. */
static int ea_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        perror(path);
        exit(2);
    }
    rewind(f);
    /* an exact-size heap copy lets ASan see reads past the input */
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

static int ea_replay_path(const char *path)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int count = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode))
        return ea_replay_file(path);
    if ((d = opendir(path)) == NULL) {
        perror(path);
        exit(2);
    }
    while ((de = readdir(d)) != NULL) {
        char child[4096];
        if (de->d_name[0] == '.')
            continue;
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
            count += ea_replay_file(child);
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    int i, count = 0;

#ifdef EA_FUZZ_CORPUS
    if (argc < 2)
        count += ea_replay_path(EA_FUZZ_CORPUS);
#endif
    for (i = 1; i < argc; i++)
        count += ea_replay_path(argv[i]);
    printf("replayed %d inputs\n", count);
    /* an empty corpus means the test is not testing anything */
    return count > 0 ? 0 : 1;
}
