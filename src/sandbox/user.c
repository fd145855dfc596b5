/* --user: after everything that needs root is done (listeners on ports below 1024, the log
 * file, the certificate cache directory), the whole process becomes an unprivileged user. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Every thread of the process (/proc/self/task/N/status) runs as uid and gid with the groups
 * initgroups() gave: glibc's setuid() reaches the other threads by a signal, and this checks it
 * did. Without /proc, glibc is taken at its word (getresuid/getresgid are checked before). */
static bool all_threads_dropped(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return true;
	char want_uid[64], want_gid[64], want_groups[1024];
	snprintf(want_uid, sizeof want_uid, "Uid:\t%u\t%u\t%u\t%u", uid, uid, uid, uid);
	snprintf(want_gid, sizeof want_gid, "Gid:\t%u\t%u\t%u\t%u", gid, gid, gid, gid);
	/* the kernel lists the groups in the order getgroups() gives them */
	gid_t groups[64];
	int n = getgroups(64, groups);
	size_t off = (size_t)snprintf(want_groups, sizeof want_groups, "Groups:\t");
	for (int i = 0; i < n && off < sizeof want_groups; i++)
		off += (size_t)snprintf(want_groups + off, sizeof want_groups - off, "%s%u",
					i ? " " : "", (unsigned)groups[i]);
	bool ok = true;
	struct dirent *e;
	while (ok && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[64], line[256];
		snprintf(path, sizeof path, "/proc/self/task/%.20s/status", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended meanwhile */
		int seen = 0;
		while (fgets(line, sizeof line, f)) {
			/* kernels differ on a space before the newline */
			size_t len = strlen(line);
			while (len && (line[len - 1] == '\n' || line[len - 1] == ' '))
				line[--len] = '\0';
			if (strncmp(line, "Uid:", 4) == 0)
				seen |= strcmp(line, want_uid) == 0 ? 1 : 8;
			else if (strncmp(line, "Gid:", 4) == 0)
				seen |= strcmp(line, want_gid) == 0 ? 2 : 8;
			else if (strncmp(line, "Groups:", 7) == 0)
				seen |= strcmp(line, want_groups) == 0 ? 4 : 8;
		}
		fclose(f);
		if (seen != 7) {
			snprintf(err, errlen, "thread %s still has other credentials", e->d_name);
			ok = false;
		}
	}
	closedir(d);
	return ok;
}

int sf_sandbox_drop_user(const char *name, char *err, size_t errlen)
{
	if (geteuid() != 0) {
		snprintf(err, errlen, "--user %s: only root can change user (running as uid %u)", name,
			 (unsigned)geteuid());
		return -1;
	}
	char buf[16384];
	struct passwd pw, *found = NULL;
	int rc = getpwnam_r(name, &pw, buf, sizeof buf, &found);
	if (!found) {
		snprintf(err, errlen, "--user %s: %s", name, rc ? strerror(rc) : "no such user");
		return -1;
	}
	if (pw.pw_uid == 0 || pw.pw_gid == 0) {
		snprintf(err, errlen, "--user %s: has uid or gid 0: that drops nothing", name);
		return -1;
	}
	/* tor asks for SIGTERM when it dies (PR_SET_PDEATHSIG); the kernel forgets that on a
	 * change of credentials, so it is asked again afterwards. */
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath);
	/* The user's groups from the group database (a cookie file may be readable by one of
	 * them), none of root's. */
	if (initgroups(name, pw.pw_gid) < 0 || setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) < 0 ||
	    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0) {
		snprintf(err, errlen, "--user %s: %s", name, strerror(errno));
		return -1;
	}
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (getresuid(&r, &e, &s) < 0 || r != pw.pw_uid || e != pw.pw_uid || s != pw.pw_uid ||
	    getresgid(&rg, &eg, &sg) < 0 || rg != pw.pw_gid || eg != pw.pw_gid || sg != pw.pw_gid) {
		snprintf(err, errlen, "--user %s: the credentials did not change", name);
		return -1;
	}
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, errlen, "--user %s: root could be regained after the change", name);
		return -1;
	}
	if (!all_threads_dropped(pw.pw_uid, pw.pw_gid, err, errlen))
		return -1;
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, pdeath);
	return 0;
}
