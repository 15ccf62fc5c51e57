/* keyfile.c - secret files (see keyfile.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"

int rv_keyfile_read(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	struct stat st;
	int ret;

	*out = NULL;
	*len = 0;
	if (errlen > 0)
		err[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > RV_KEYFILE_MAX) {
		ret = -EBADMSG;
		snprintf(err, errlen, "%s: not a key file (%s)", path,
				S_ISREG(st.st_mode) ? "too large" : "not a regular file");
		goto out;
	}
	/* A key any local user can read lets them act as the agent (rewrite
	 * the zone, query the history); one others can write lets them swap it. */
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		ret = -EACCES;
		snprintf(err, errlen, "%s: key file is %s by %s (mode %04o); fix with: chmod %s %s",
				path, (st.st_mode & S_IROTH) ? "readable" : "writable",
				(st.st_mode & (S_IROTH | S_IWOTH)) ? "everyone" : "its group",
				(unsigned)(st.st_mode & 07777),
				(st.st_mode & (S_IROTH | S_IWOTH)) ? "o-rwx,g-w" : "g-w", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	ret = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, n);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

void rv_keyfile_clear(char **buf, size_t len)
{
	if (*buf != NULL) {
		explicit_bzero(*buf, len);
		free(*buf);
	}
	*buf = NULL;
}

int rv_api_key_load(const char *path, char **key, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int ret = rv_keyfile_read(path, &buf, &len, err, errlen);

	*key = NULL;
	if (ret < 0)
		return ret;
	size_t nl = strcspn(buf, "\n"), end = nl;
	while (end > 0 && (buf[end - 1] == '\r' || buf[end - 1] == ' ' || buf[end - 1] == '\t'))
		end--;
	size_t start = strspn(buf, " \t");
	if (start >= end || (nl < len && buf[nl] == '\0')) {
		snprintf(err, errlen, "%s: no API key on the first line (or a NUL byte in it)", path);
		rv_keyfile_clear(&buf, len);
		return -EBADMSG;
	}
	*key = strndup(buf + start, end - start);
	rv_keyfile_clear(&buf, len);
	if (*key == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}
