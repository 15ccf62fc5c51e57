/*
 * replay_main.c - runs a fuzz target over every file of its corpus directories
 * when the project is built without libFuzzer, so the corpus (seeds and every
 * past crash) is replayed by `meson test --suite fuzz`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
		fclose(f);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	/* +1 so an empty file still gets a valid (non-NULL) buffer. */
	uint8_t *buf = malloc(len + 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned runs = 0, errors = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			if (run_file(argv[i]) == 0)
				runs++;
			else
				errors++;
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (run_file(path) == 0)
				runs++;
			else
				errors++;
		}
		closedir(d);
	}
	printf("replayed %u inputs, %u unreadable\n", runs, errors);
	/* An empty corpus would make this test pass vacuously. */
	return (runs == 0 || errors) ? 1 : 0;
}
