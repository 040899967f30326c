/*
 * A main() for the fuzz targets when libFuzzer is not there (no clang, or a
 * plain cc build in CI): feeds every file named on the command line (or
 * every file of the directories named) to LLVMFuzzerTestOneInput once, so
 * the corpus, reproducers included, is replayed by any C compiler.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *data = malloc(cap);
	size_t got;
	while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *bigger = realloc(data, cap *= 2);
			if (!bigger) {
				free(data);
				data = NULL;
			}
			data = bigger;
		}
	}
	fclose(f);
	if (!data) {
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	/* an exact-size copy, as libFuzzer gives, so over-reads show under ASan */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(data);
		return -1;
	}
	memcpy(exact, data, n);
	free(data);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int files = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i]) < 0;
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			failed++;
			continue;
		}
		char **names = NULL;
		size_t n = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char **more = realloc(names, (n + 1) * sizeof *names);
			if (!more)
				break;
			names = more;
			if (asprintf(&names[n], "%s/%s", argv[i], e->d_name) < 0)
				break;
			n++;
		}
		closedir(d);
		/* a fixed order, so a failure is reproducible */
		qsort(names, n, sizeof *names, by_name);
		for (size_t k = 0; k < n; k++) {
			failed += run_file(names[k]) < 0;
			files++;
			free(names[k]);
		}
		free(names);
	}
	printf("%s: replayed %d inputs\n", argv[0], files);
	return failed ? 1 : 0;
}
