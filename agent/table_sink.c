/* table_sink.c - observations -> the candidate table. */
#include "stats.h"
#include "table_sink.h"

static void observe(void *arg, const rv_observation *obs)
{
	rv_table *t = arg;
	for (size_t i = 0; i < obs->answer.naddrs; i++) {
		int r = rv_table_observe_from(t, &obs->answer.addrs[i], obs->answer.qname,
				obs->answer.depth, obs->answer.min_ttl, obs->time_sec,
				obs->has_client ? &obs->client : NULL);
		if (r < 0)
			rv_stats.table_full++;
	}
}

rv_sink rv_table_sink(rv_table *t)
{
	return (rv_sink){.name = "table", .observe = observe, .arg = t};
}
