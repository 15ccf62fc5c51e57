/* stats.c - process-wide counters and their log line. */
#include <inttypes.h>

#include "dnsmsg.h"
#include "log.h"
#include "stats.h"

struct rv_stats rv_stats;

void rv_stats_log(int level, const char *why)
{
	if (level > rv_log_level)
		return;
	const uint64_t *v = rv_stats.verdicts;
	uint64_t skipped = 0, bad = v[RV_BAD_PROTOBUF] + v[RV_BAD_DNS];
	for (int i = RV_SKIP_MSG_TYPE; i <= RV_SKIP_RPZ; i++)
		skipped += v[i];
	rv_log_write(level, "stats",
		"%s: conns active=%" PRIu64 " accepted=%" PRIu64 " dropped=%" PRIu64
		" refused=%" PRIu64 " conn_evicted=%" PRIu64 " conn_timeouts=%" PRIu64 "; frames=%" PRIu64 " learned=%" PRIu64 " skipped=%" PRIu64
		" malformed=%" PRIu64 " addresses=%" PRIu64 "; table new=%" PRIu64
		" changed=%" PRIu64 " evicted=%" PRIu64 " expired=%" PRIu64 "; rpz updates sent=%" PRIu64
		" ok=%" PRIu64 " failed=%" PRIu64 " records=%" PRIu64 " (rcode=%" PRIu64
		" tsig=%" PRIu64 " timeout=%" PRIu64 " conn=%" PRIu64 ")",
		why, rv_stats.fs_active, rv_stats.fs_accepted, rv_stats.fs_dropped,
		rv_stats.fs_refused, rv_stats.fs_evicted, rv_stats.fs_timeouts, rv_stats.fs_frames, v[RV_LEARN], skipped, bad,
		rv_stats.addresses_seen, rv_stats.table_new, rv_stats.table_changed,
		rv_stats.table_evicted, rv_stats.table_expired, rv_stats.rpz_updates_sent, rv_stats.rpz_updates_ok,
		rv_stats.rpz_updates_failed, rv_stats.rpz_records_committed,
		rv_stats.rpz_rcode_errors, rv_stats.rpz_tsig_errors, rv_stats.rpz_timeouts,
		rv_stats.rpz_conn_errors);
}
