/* privs.c - users, groups and the privilege drop (see privs.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

int rv_privs_group(const char *name, gid_t *gid)
{
	*gid = (gid_t)-1;
	if (!name || !*name)
		return 0;
	struct group *gr = getgrnam(name);
	if (!gr) {
		rv_crit("agent", "socket-group '%s': no such group (set socket-group \"\" to keep "
			"the agent's own group)", name);
		return -ENOENT;
	}
	*gid = gr->gr_gid;
	return 0;
}

int rv_privs_uid(const char *name, uid_t *uid, bool *set)
{
	*set = false;
	if (!name || !*name)
		return 0;
	struct passwd *pw = getpwnam(name);
	if (pw) {
		*uid = pw->pw_uid;
		*set = true;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0 &&
	    v < (unsigned long)(uid_t)-1) {
		*uid = (uid_t)v;
		*set = true;
		return 0;
	}
	rv_crit("agent", "writer-user '%s': no such user (set writer-user to the user named runs "
		"as, or \"\" to trust only root)", name);
	return -ENOENT;
}

int rv_privs_drop(const char *user)
{
	if (!user || !*user)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		rv_crit("agent", "user '%s': no such user", user);
		return -ENOENT;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		rv_crit("agent", "user '%s': switching users needs root; started as uid %u",
			user, (unsigned)geteuid());
		return -EPERM;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		int e = errno;
		rv_crit("agent", "switching to user '%s' failed: %s", user, strerror(e));
		return -e;
	}
	/* Belt and braces: a process that can get root back has not dropped it. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		rv_crit("agent", "still able to regain root after switching to '%s'", user);
		return -EPERM;
	}
	rv_notice("agent", "running as user %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
		(unsigned)pw->pw_gid);
	return 0;
}
