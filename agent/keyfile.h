/*
 * keyfile.h - reading secret files: the TSIG key (tsig_key.c) and the HTTP
 * API key. One policy for both: a regular file, small, neither readable by
 * everyone nor writable by anyone but its owner, checked on the open
 * descriptor (no stat/open race). Secrets never come from argv (ps shows it).
 */
#ifndef RV_KEYFILE_H
#define RV_KEYFILE_H

#include "common.h"

/* A key file is a few hundred bytes; anything this big is not a key file. */
#define RV_KEYFILE_MAX (1024 * 1024)

/*
 * Reads path whole into *out (NUL-terminated, owned by the caller: release
 * with rv_keyfile_clear, which zeroes it), *len bytes. Returns 0; -EACCES for
 * a file others may read or write, -EBADMSG for a non-regular or too large
 * file, -errno from open/read. err: "PATH: message" (with the chmod that
 * fixes a mode).
 */
int rv_keyfile_read(const char *path, char **out, size_t *len, char *err,
		size_t errlen) RV_MUST_CHECK;
/* Zeroes and frees *buf (len bytes), NULLs it. */
void rv_keyfile_clear(char **buf, size_t len);

/*
 * The HTTP API key: the first line of path, without its line end (\n or
 * \r\n) and surrounding blanks. 0, -EBADMSG for an empty first line, or an
 * rv_keyfile_read error; *key owned by the caller (rv_keyfile_clear with
 * strlen(*key)).
 */
int rv_api_key_load(const char *path, char **key, char *err, size_t errlen) RV_MUST_CHECK;

#endif
