/* table_sink.c - observations -> the candidate table. */
#include "stats.h"
#include "table_sink.h"

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
