/*
 * table_api.h - the live table over HTTP, for the analyst who asks "why does
 * the xray view say this?":
 *
 *   /v1/address/{addr}  every candidate name of addr with first, last, count,
 *                       depth, clients, TTL and score now; which one is best,
 *                       which one the RPZ holds, and whether a write is pending.
 *   /v1/name/{name}     the addresses whose candidates include name (a scan
 *                       of the table, streamed a slice at a time).
 */
#ifndef RV_TABLE_API_H
#define RV_TABLE_API_H

#include "common.h"
#include "http.h"
#include "table.h"

typedef struct rv_table_api rv_table_api;

/* Registers the routes. table and http are borrowed and must outlive it.
 * NULL with *err = -errno. */
rv_table_api *rv_table_api_new(rv_http *http, rv_table *table, unsigned deadline_ms,
		int64_t (*clock)(void), int *err);
void rv_table_api_free(rv_table_api **api);

#endif
