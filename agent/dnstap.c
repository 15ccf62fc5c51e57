/*
 * dnstap.c - one dnstap.Dnstap protobuf frame -> an observation.
 *
 * protobuf-c (code generated from proto/dnstap.proto at build time) does the
 * decoding; dnsmsg.c reads the DNS response inside. The unpacked message lives
 * in a per-thread arena that the next decode resets: obs owns nothing, and
 * what it borrows (the identity, the DNS message) lives in that arena, not
 * in the frame.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dnstap.h"
#include "dnstap.pb-c.h"

/* Nanoseconds are a fraction of a second; anything else is not a time. */
#define NSEC_PER_SEC 1000000000u

/*
 * protobuf-c allocates the unpacked Dnstap, its Message and a copy of every
 * bytes field (identity, version, addresses, the DNS messages): ~8 malloc/free
 * pairs per frame. A bump arena turns them into pointer increments; free is a
 * no-op, and the whole arena is released at once when the frame is done
 * (callgrind, default bench mix: 9.3k -> 8.1k instructions per frame). What
 * does not fit (a frame near 64 KiB) falls back to malloc, chained so the
 * reset frees it. Per thread: the allocator lives for one call only.
 */
#define ARENA_SIZE (64 * 1024)

/* Under ASan every block is followed by a poisoned red zone and released
 * blocks are poisoned, so the fuzzers still see protobuf-c overruns. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RV_ARENA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RV_ARENA_ASAN 1
#endif
#ifdef RV_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 16
#else
#define ARENA_REDZONE 0
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

struct arena_big {
	struct arena_big *next;
	max_align_t align; /* the caller's block follows, aligned */
};

struct arena {
	size_t used;
	bool poisoned; /* ASan: the whole buffer once, before first use */
	struct arena_big *big;
	alignas(max_align_t) uint8_t buf[ARENA_SIZE];
};

static _Thread_local struct arena frame_arena;

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t n = ((size + alignof(max_align_t) - 1) &
		    ~(alignof(max_align_t) - 1)) + ARENA_REDZONE;
	struct arena_big *big;

	if (!a->poisoned) {
		ASAN_POISON_MEMORY_REGION(a->buf, sizeof(a->buf));
		a->poisoned = true;
	}
	if (n >= size && ARENA_SIZE - a->used >= n) {
		void *p = a->buf + a->used;

		a->used += n;
		ASAN_UNPOISON_MEMORY_REGION(p, size);
		return p;
	}
	if (size > SIZE_MAX - sizeof(*big))
		return NULL;
	big = malloc(sizeof(*big) + size);
	if (big == NULL)
		return NULL;
	big->next = a->big;
	a->big = big;
	return big + 1;
}

/* Everything is released by arena_reset(). */
static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

static void arena_reset(struct arena *a)
{
	while (a->big != NULL) {
		struct arena_big *next = a->big->next;

		free(a->big);
		a->big = next;
	}
	ASAN_POISON_MEMORY_REGION(a->buf, a->used);
	a->used = 0;
}

/* dnstap addresses are raw network-order bytes, 4 for INET and 16 for INET6
 * (dnstap.proto "query_address"); any other length is ignored, not fatal. */
static bool take_addr(protobuf_c_boolean has, const ProtobufCBinaryData *b,
		      rv_addr *a)
{
	if (!has || b->data == NULL)
		return false;
	return rv_addr_set(a, b->data, b->len) == 0;
}

int rv_dnstap_decode(const uint8_t *frame, size_t len, unsigned max_depth,
		     rv_observation *obs, rv_verdict *why)
{
	ProtobufCAllocator alloc = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = &frame_arena,
	};
	Dnstap__Dnstap *d;
	const Dnstap__Message *m;
	int rc = -EBADMSG;

	/* The previous observation's borrowed bytes go now, not at the end of
	 * that call: its sinks needed them after the decoder returned. */
	arena_reset(&frame_arena);
	/* Not memset(): obs is 2 KiB, nearly all of it the answer's buffers. */
	memset(obs, 0, offsetof(rv_observation, answer));
	rv_answer_clear(&obs->answer);
	*why = RV_BAD_PROTOBUF;

	if (frame == NULL && len > 0)
		goto out;
	/* Unpack fails on bad wire types, overruns and missing required fields
	 * (Dnstap.type, Message.type). */
	d = dnstap__dnstap__unpack(&alloc, len, frame);
	if (d == NULL)
		goto out;

	rc = -ENOENT;
	/* MESSAGE is the only Dnstap.Type the schema defines; protobuf-c does not
	 * check enum values, so a future type arrives here as a number. */
	if (d->type != DNSTAP__DNSTAP__TYPE__MESSAGE || d->message == NULL) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	m = d->message;
	obs->msg_type = (int)m->type;
	/* BIND sends CLIENT_RESPONSE for RD=1 queries and AUTH_RESPONSE for
	 * RD=0 ones (README "How it works"); RESOLVER_* are upstream traffic and
	 * UPDATE_* our own writes, neither is what a client saw. */
	if (m->type != DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE &&
	    m->type != DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE) {
		*why = RV_SKIP_MSG_TYPE;
		goto out;
	}

	if (m->has_socket_protocol && m->socket_protocol >= 1 && m->socket_protocol <= 4)
		obs->socket_protocol = (int)m->socket_protocol;
	if (d->has_identity && d->identity.len > 0) {
		obs->identity = d->identity.data;
		obs->identity_len = d->identity.len;
	}
	obs->has_client = take_addr(m->has_query_address, &m->query_address,
				    &obs->client);
	obs->has_response_addr = take_addr(m->has_response_address,
					   &m->response_address,
					   &obs->response_addr);
	if (m->has_response_port && m->response_port <= UINT16_MAX)
		obs->response_port = (uint16_t)m->response_port;
	if (m->has_response_time_sec && m->response_time_sec <= INT64_MAX) {
		obs->has_time = true;
		obs->time_sec = (int64_t)m->response_time_sec;
		if (m->has_response_time_nsec &&
		    m->response_time_nsec < NSEC_PER_SEC)
			obs->time_nsec = m->response_time_nsec;
	}

	/* An empty but present message is a broken one: dnsmsg says so. */
	if (!m->has_response_message) {
		*why = RV_SKIP_NO_MESSAGE;
		goto out;
	}
	rc = rv_dnsmsg_parse(m->response_message.data, m->response_message.len,
			     max_depth, &obs->answer, why);
out:
	/* Instead of dnstap__dnstap__free_unpacked(): the arena is reset by the
	 * next decode or rv_dnstap_release(). */
	return rc;
}

void rv_dnstap_release(void)
{
	arena_reset(&frame_arena);
}

const char *rv_dnstap_transport_name(int socket_protocol)
{
	static const char *const names[] = {"unknown", "udp", "tcp", "dot", "doh"};

	if (socket_protocol < 0 || (size_t)socket_protocol >= RV_ARRAY_LEN(names))
		return "unknown";
	return names[socket_protocol];
}
