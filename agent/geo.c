/* geo.c - country of an address from a MaxMind DB, via libmaxminddb. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "rv_config.h"

#if RV_HAVE_MAXMINDDB

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <maxminddb.h>

struct rv_geo {
	MMDB_s mmdb;
};

/* ::ffff:a.b.c.d. Not IN6_IS_ADDR_V4MAPPED: rv_addr.bytes is not aligned for
 * struct in6_addr. */
static bool v4_mapped(const rv_addr *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return a->family == AF_INET6 && memcmp(a->bytes, prefix, sizeof(prefix)) == 0;
}

/* MMDB_* status of MMDB_open -> negative errno. open_errno is errno right after
 * the call; only MMDB_FILE_OPEN_ERROR says which one in the status itself. */
static int open_status_errno(int status, int open_errno)
{
	switch (status) {
	case MMDB_FILE_OPEN_ERROR:
		return open_errno > 0 ? -open_errno : -EIO;
	case MMDB_IO_ERROR:
		return -EIO;
	case MMDB_OUT_OF_MEMORY_ERROR:
		return -ENOMEM;
	default:
		/* invalid metadata, corrupt tree, unknown format version, ... */
		return -EBADMSG;
	}
}

rv_geo *rv_geo_open(const char *path, int *err, char *errbuf, size_t errlen)
{
	rv_geo *g = NULL;
	struct stat st;
	int rc;

	/* MMDB_open reports an empty file or a directory as a failed read
	 * (mmap says EINVAL/ENODEV); say what is wrong instead */
	if (stat(path, &st) != 0) {
		rc = errno > 0 ? -errno : -EIO;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		rc = -EBADMSG;
		snprintf(errbuf, errlen, "%s: %s", path,
				S_ISREG(st.st_mode) ? "empty file, not a MaxMind DB" : "not a regular file");
		goto fail;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = -ENOMEM;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(ENOMEM));
		goto fail;
	}
	errno = 0;
	int status = MMDB_open(path, MMDB_MODE_MMAP, &g->mmdb);
	int open_errno = errno;
	if (status != MMDB_SUCCESS) {
		rc = open_status_errno(status, open_errno);
		/* MMDB_strerror() of the two I/O statuses does not say why; errno does */
		snprintf(errbuf, errlen, "%s: %s", path,
				status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR ?
				strerror(open_errno > 0 ? open_errno : EIO) : MMDB_strerror(status));
		/* MMDB_open has already released what it had mapped */
		goto fail;
	}
	if (errlen > 0)
		errbuf[0] = '\0';
	*err = 0;
	return g;

fail:
	free(g);
	*err = rc;
	return NULL;
}

void rv_geo_free(rv_geo **g)
{
	if (!*g)
		return;
	MMDB_close(&(*g)->mmdb);
	free(*g);
	*g = NULL;
}

/*
 * Looks up one path ("country", "iso_code") in the record and validates it into
 * cc. -ENOENT when the path is absent (a record without that map or key).
 */
static int iso_code(MMDB_entry_s *entry, const char *map, char cc[3])
{
	MMDB_entry_data_s data;

	int status = MMDB_get_value(entry, &data, map, "iso_code", NULL);
	/* libmaxminddb says "does not match" both for a missing key and for a
	 * path through something that is not a map ("country": "Japan" in a
	 * database of another shape): either way there is no code to read */
	if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
	    (status == MMDB_SUCCESS && !data.has_data))
		return -ENOENT;
	if (status != MMDB_SUCCESS)
		return -EBADMSG; /* undecodable data: a damaged file */
	if (data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
		return -EBADMSG;
	for (int i = 0; i < 2; i++) {
		char c = data.utf8_string[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		/* it goes into a TXT record: nothing but letters gets through */
		if (c < 'A' || c > 'Z')
			return -EBADMSG;
		cc[i] = c;
	}
	cc[2] = '\0';
	return 0;
}

int rv_geo_country(rv_geo *g, const rv_addr *addr, char cc[3])
{
	struct sockaddr_storage ss;
	int rc;

	cc[0] = '\0';
	if (!g)
		return -ENOENT;

	memset(&ss, 0, sizeof(ss));
	if (addr->family == AF_INET || v4_mapped(addr)) {
		/* IPv4 (mapped ones too: not every database aliases ::ffff:0:0/96);
		 * libmaxminddb finds IPv4 under ::/96 of an IPv6 tree itself */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr->family == AF_INET ? addr->bytes : addr->bytes + 12, 4);
	} else if (addr->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr->bytes, 16);
	} else {
		return -EINVAL;
	}

	int mmdb_error = MMDB_SUCCESS;
	MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&g->mmdb, (const struct sockaddr *)&ss,
			&mmdb_error);
	if (mmdb_error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return -ENOENT; /* an IPv4-only database knows nothing of IPv6 */
	if (mmdb_error != MMDB_SUCCESS)
		return -EBADMSG;
	if (!res.found_entry)
		return -ENOENT;

	/* where the user is (country) beats where the block is registered;
	 * a country that is present but invalid is an error, not a reason to
	 * fall back to a different answer */
	rc = iso_code(&res.entry, "country", cc);
	if (rc == -ENOENT)
		rc = iso_code(&res.entry, "registered_country", cc);
	if (rc < 0)
		cc[0] = '\0';
	return rc;
}

const char *rv_geo_database_type(const rv_geo *g)
{
	return g && g->mmdb.metadata.database_type ? g->mmdb.metadata.database_type : "";
}

uint64_t rv_geo_build_epoch(const rv_geo *g)
{
	return g ? g->mmdb.metadata.build_epoch : 0;
}

#else /* !RV_HAVE_MAXMINDDB */

rv_geo *rv_geo_open(const char *path, int *err, char *errbuf, size_t errlen)
{
	*err = -ENOTSUP;
	snprintf(errbuf, errlen, "%s: rearview was built without libmaxminddb", path);
	return NULL;
}

void rv_geo_free(rv_geo **g)
{
	*g = NULL;
}

int rv_geo_country(rv_geo *g, const rv_addr *addr, char cc[3])
{
	(void)g;
	(void)addr;
	cc[0] = '\0';
	return -ENOENT;
}

const char *rv_geo_database_type(const rv_geo *g)
{
	(void)g;
	return "";
}

uint64_t rv_geo_build_epoch(const rv_geo *g)
{
	(void)g;
	return 0;
}

#endif
