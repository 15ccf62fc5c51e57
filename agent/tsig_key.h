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
	char algorithm[64];  /* ldns spelling with trailing dot: "hmac-sha256." */
	char secret[512];    /* base64, as in the file (validated) */
} rv_tsig_key;

/*
 * Parses key file text. When want_name is NULL or "", the file must hold exactly
 * one key; otherwise the key of that name is picked. Supported algorithms:
 * hmac-sha256 (recommended), hmac-sha512, hmac-sha1, hmac-md5 (hmac-sha224 and
 * hmac-sha384 are refused: ldns 1.8.3 cannot sign with them).
 * Returns 0, or -EBADMSG / -ENOENT with err = "line N: message" (or a message
 * about the key set as a whole). Pure.
 */
int rv_tsig_key_parse(const char *text, size_t len, const char *want_name,
		rv_tsig_key *key, char *err, size_t errlen) RV_MUST_CHECK;

/* Reads and parses path; err = "PATH:LINE: message" or "PATH: strerror". */
int rv_tsig_key_load(const char *path, const char *want_name, rv_tsig_key *key,
		char *err, size_t errlen) RV_MUST_CHECK;

#endif
