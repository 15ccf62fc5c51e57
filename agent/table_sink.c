/* table_sink.c - observations -> the candidate table. */
#include "ingest.h"
#include "stats.h"
#include "table_sink.h"

/* The table keeps hints for RV_TABLE_AHEAD announcements beyond the one being
 * observed; ingest must not run further ahead, or the oldest hints are lost. */
_Static_assert(RV_INGEST_AHEAD <= RV_TABLE_AHEAD, "ingest runs ahead of the table's prefetch ring");

static void observe(void *arg, const rv_observation *obs)
{
	rv_table *t = arg;
	size_t nfull = 0;

	if (rv_table_observe_addrs(t, obs->answer.addrs, obs->answer.naddrs, obs->answer.qname,
			obs->answer.depth, obs->answer.min_ttl, obs->time_sec,
			obs->has_client ? &obs->client : NULL, &nfull) < 0)
		rv_stats.table_full += nfull;
}

static void prefetch(void *arg, const rv_observation *obs)
{
	rv_table_prefetch(arg, obs->answer.addrs, obs->answer.naddrs);
}

rv_sink rv_table_sink(rv_table *t)
{
	return (rv_sink){.name = "table", .observe = observe, .prefetch = prefetch, .arg = t};
}
