/*
 * table_sink.h - the sink that feeds the candidate table: every address of an
 * observation is one sighting of the question name (rv_table_observe).
 */
#ifndef RV_TABLE_SINK_H
#define RV_TABLE_SINK_H

#include "sink.h"
#include "table.h"

/* A sink bound to t (borrowed). */
rv_sink rv_table_sink(rv_table *t);

#endif
