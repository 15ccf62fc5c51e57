/*
 * tsig_key.h - TSIG key from a BIND key file (tsig-keygen / rndc-confgen output):
 *
 *   key "rearview-key" {
 *           algorithm hmac-sha256;
 *           secret "base64...";
 *   };
 *
 * Key material never comes from argv (it would show in ps).
 */
#ifndef RV_TSIG_KEY_H
#define RV_TSIG_KEY_H

#include "common.h"

typedef struct rv_tsig_key {
	char name[256];      /* absolute, lower-case, with trailing dot: "rearview-key." */
	char algorithm[64];  /* RFC 8945 6 name, absolute: "hmac-sha256.", "hmac-md5.sig-alg.reg.int." */
	char secret[512];    /* base64, as in the file (validated); tsig.c decodes it */
} rv_tsig_key;

/*
 * Parses key file text. When want_name is NULL or "", the file must hold exactly
 * one key; otherwise the key of that name is picked. Algorithms: every one
 * tsig.c signs with (hmac-sha256, recommended; hmac-sha224, hmac-sha384,
 * hmac-sha512, hmac-sha1, hmac-md5), spelt as in named.conf.
 * Returns 0, or -EBADMSG / -ENOENT with err = "line N: message" (or a message
 * about the key set as a whole). Pure.
 */
int rv_tsig_key_parse(const char *text, size_t len, const char *want_name,
		rv_tsig_key *key, char *err, size_t errlen) RV_MUST_CHECK;

/* Reads and parses path; err = "PATH:LINE: message" or "PATH: strerror". */
int rv_tsig_key_load(const char *path, const char *want_name, rv_tsig_key *key,
		char *err, size_t errlen) RV_MUST_CHECK;

#endif
