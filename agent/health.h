/*
 * health.h - is the agent doing its job? The answer /healthz gives (a load
 * balancer, systemd or a monitoring check reads it):
 *   - the dnstap socket listens (named can connect);
 *   - the RPZ writer's last UPDATE succeeded, or nothing is waiting to be
 *     sent (a BIND that is down while nothing changes is no problem yet);
 *   - the event loop is live: a 1 s heartbeat timer ran recently and on time
 *     (a loop that was blocked for seconds also answered nobody meanwhile).
 * The module reads the owners' accessors when asked; it keeps no copy.
 */
#ifndef RV_HEALTH_H
#define RV_HEALTH_H

#include "common.h"
#include "fstrm_srv.h"
#include "publish.h"
#include "rpz.h"

struct event_base;

typedef struct rv_health_sources {
	const rv_fs_server *dnstap;     /* NULL: not listening */
	const rv_rpz_writer *writer;    /* NULL: dry-run, nothing is sent */
	const rv_rpz_writer *mover;     /* the hot zone's moves into the main zone; NULL: none */
	const rv_publisher *publisher;  /* NULL: pending count not shown */
} rv_health_sources;

typedef struct rv_health rv_health;

/* Borrows base and the sources, which must outlive it or be disowned with
 * rv_health_stopping(). Starts the heartbeat and registers its lag metric
 * (rearview_event_loop_lag_seconds). NULL on ENOMEM. */
rv_health *rv_health_new(struct event_base *base, const rv_health_sources *src);
void rv_health_free(rv_health **h);

/* Shutdown has begun (the sources are going away): every check from now on
 * reports "stopping", without touching them. */
void rv_health_stopping(rv_health *h);

/* 0 when healthy; -EAGAIN when not, with why = one line saying what is wrong
 * (the first failing check). */
int rv_health_check(rv_health *h, char *why, size_t len) RV_MUST_CHECK;

#endif
