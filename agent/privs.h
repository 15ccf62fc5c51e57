/*
 * privs.h - the users and groups the agent deals with, and dropping root.
 *
 * The agent binds the dnstap socket (and reads its key) with the privileges it
 * was started with, then switches to `user` before it parses any file (the
 * snapshot, the GeoIP database) or any traffic. Each function logs its own
 * failure at crit, naming the option, and returns a negative errno.
 */
#ifndef RV_PRIVS_H
#define RV_PRIVS_H

#include <sys/types.h>

#include "common.h"

/* socket-group NAME -> *gid; NULL or "" leaves (gid_t)-1 (keep the agent's). */
int rv_privs_group(const char *name, gid_t *gid) RV_MUST_CHECK;
/* writer-user: a user name, or a number for a uid without a passwd entry ->
 * *uid, *set = true; NULL or "" -> *set = false. */
int rv_privs_uid(const char *name, uid_t *uid, bool *set) RV_MUST_CHECK;
/* Switches to user (and its groups) if started as root; a no-op for NULL, ""
 * or when already running as that user. Fails if root could be regained. */
int rv_privs_drop(const char *user) RV_MUST_CHECK;

#endif
