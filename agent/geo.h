/*
 * geo.h - country of an address from a MaxMind DB (.mmdb: GeoLite2-Country,
 * GeoIP2-Country/City, DB-IP country lite, ...) via libmaxminddb, for the
 * "country=CC" item of the TXT metadata.
 *
 * The database is outside data: every value read from it is validated before
 * it reaches a DNS record. Lookups are read-only on an mmap()ed file, so a
 * handle can be shared; replacing the file on disk needs a new rv_geo_open()
 * (write the new file and rename it over the old one: the old mapping stays
 * valid until rv_geo_free()).
 *
 * Built without libmaxminddb (meson -Dmaxminddb=disabled) the functions exist
 * but rv_geo_open() fails with -ENOTSUP.
 */
#ifndef RV_GEO_H
#define RV_GEO_H

#include "common.h"

typedef struct rv_geo rv_geo;

/*
 * Opens a .mmdb (MMDB_MODE_MMAP). Returns NULL and sets *err to a negative
 * errno: -ENOENT missing file, -EBADMSG not a valid MaxMind DB (also empty, or
 * not a regular file), -ENOTSUP built without libmaxminddb, or another
 * stat/open/read error (-EACCES, -EIO, ...); errbuf gets "PATH: message".
 */
rv_geo *rv_geo_open(const char *path, int *err, char *errbuf, size_t errlen);
void rv_geo_free(rv_geo **g);

/*
 * ISO 3166-1 alpha-2 country of addr into cc ("" when unknown): country.iso_code,
 * or registered_country.iso_code when the record has no country. The value must
 * be exactly two ASCII letters; it is upper-cased.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
 * Returns 0 found; -ENOENT not in the database, or a record without either
 * iso_code (also a database of another shape, and g == NULL, so callers need
 * not test for "no database"); -EBADMSG damaged database or an invalid value
 * (cc is then ""); -EINVAL addr is neither AF_INET nor AF_INET6.
 */
int rv_geo_country(rv_geo *g, const rv_addr *addr, char cc[3]);

/* metadata for the startup log line: database_type ("GeoLite2-Country") and
 * build_epoch (Unix seconds) */
const char *rv_geo_database_type(const rv_geo *g);
uint64_t rv_geo_build_epoch(const rv_geo *g);

#endif
