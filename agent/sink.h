/*
 * sink.h - where observations go.
 *
 * Ingest (ingest.h) turns each accepted dnstap frame into one observation and
 * hands it to every registered sink, in registration order. A sink is one
 * file with one job (the candidate table: table_sink.c; later the history
 * store, the COF log, ...): adding one is a new file and one registration
 * line where the agent is wired (main.c), and touches no other sink.
 *
 * A sink must not block (no disk, no peer waits on the ingest path: buffer and
 * hand off), must not keep pointers into the observation after it returns, and
 * counts its own failures in the metrics registry (stats.h).
 */
#ifndef RV_SINK_H
#define RV_SINK_H

#include "common.h"
#include "dnstap.h"

typedef struct rv_sink {
	const char *name;  /* for logs ("table", "history", ...) */
	/* One observation. obs->answer.addrs holds only addresses the guards
	 * accept (possibly none); obs->time_sec is the sighting time in epoch
	 * seconds, already checked against the agent's clock. */
	void (*observe)(void *arg, const rv_observation *obs);
	/* Optional. Ingest may announce an observation up to RV_INGEST_AHEAD
	 * (3) others before observe() gets it, so the sink can prefetch what it
	 * will touch (the table's slots and entries miss the cache). Every announced
	 * observation then reaches observe() in the same order, the same
	 * rv_observation object unchanged; observe() may also come unannounced. */
	void (*prefetch)(void *arg, const rv_observation *obs);
	void *arg;
} rv_sink;

#endif
