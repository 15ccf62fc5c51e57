/*
 * common.h - types and conventions shared by every rearview module.
 *
 * Result convention: functions return 0 on success or a negative errno.
 *   -EBADMSG  malformed input (count it, log it once, carry on)
 *   -EAGAIN   try again later (peer busy, not connected)
 *   -ENOENT   nothing to do / not found / input deliberately ignored
 *   -ENOMEM   allocation failed
 * Lifecycle: x_new() returns an owned handle, x_free(x_t **) frees and NULLs it.
 */
#ifndef RV_COMMON_H
#define RV_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define RV_MUST_CHECK __attribute__((warn_unused_result))
/* For the few hot-path helpers the compiler would otherwise leave as calls
 * (each use measured with callgrind: BENCHMARKS.md). */
#define RV_ALWAYS_INLINE static inline __attribute__((always_inline))
#define RV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A domain name in presentation form (RFC 1035 5.1 escapes), lower-case, without
 * the trailing dot. Wire names are at most 255 octets; each octet can expand to
 * a 4-character "\DDD" escape, so 4 * 255 + NUL bounds every name we produce.
 */
#define RV_NAME_MAX 1024

/* An IPv4 or IPv6 address. Unused bytes are zero so the struct can be hashed and
 * compared with memcmp. */
typedef struct rv_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t bytes[16];
} rv_addr;

/* INET6_ADDRSTRLEN */
#define RV_ADDR_STRLEN 46

/* Fills *a from 4 or 16 network-order bytes; -EINVAL for any other length
 * (then *a is all zero). Inline, as rv_addr_equal(): both run for every
 * address of every frame, and the calls cost more than the work (callgrind). */
static inline int rv_addr_set(rv_addr *a, const uint8_t *bytes, size_t len) RV_MUST_CHECK;
static inline int rv_addr_set(rv_addr *a, const uint8_t *bytes, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (len == 4) {
		a->family = AF_INET;
		memcpy(a->bytes, bytes, 4);
		return 0;
	}
	if (len == 16) {
		a->family = AF_INET6;
		memcpy(a->bytes, bytes, 16);
		return 0;
	}
	return -EINVAL;
}
/* Parses "1.2.3.4" or any IPv6 text form; -EINVAL if it is neither. */
int rv_addr_parse(const char *text, rv_addr *a) RV_MUST_CHECK;
/* Canonical text (RFC 5952 for IPv6) into buf (at least RV_ADDR_STRLEN bytes).
 * Returns buf, so it can be used inside a log call. */
const char *rv_addr_str(const rv_addr *a, char *buf, size_t len);
static inline bool rv_addr_equal(const rv_addr *a, const rv_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}
/* "1.2.3.4:80" or "[::1]:80" -> *a, *port (1-65535); -EINVAL otherwise. */
int rv_hostport_parse(const char *text, rv_addr *a, uint16_t *port) RV_MUST_CHECK;
/* 127.0.0.0/8 or ::1. */
bool rv_addr_is_loopback(const rv_addr *a);

/* Lower-cases ASCII letters in place (DNS names compare case-insensitively,
 * RFC 4343; we store one canonical form). */
void rv_ascii_lower(char *s);

#endif
