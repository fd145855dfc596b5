/* --seccomp: the allow-list of syscalls.c, loaded on every thread of the process at once.
 *
 * A call outside the list fails with EPERM instead of killing the process: a rarely used call
 * that the list missed must cost one failed operation, not every user's session. It is not
 * counted in the process: that would need SCMP_ACT_TRAP, and the kernel turns a SIGSYS that the
 * faulting thread blocks (shard threads block every signal) into a kill. The kernel logs every
 * refusal instead (SCMP_FLTATR_CTL_LOG: "audit: type=1326 ... syscall=N" in its log). */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"

/* Namespaces are never made: a clone with one of these flags is refused. */
#define CLONE_NAMESPACE_FLAGS                                                                  \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |          \
	 CLONE_NEWPID | CLONE_NEWNET)

/* The refused calls get the default action (EPERM; libseccomp takes no rule that repeats it):
 * what makes them refused is that no allow rule may ever name one. */
static bool is_refused(const char *name)
{
	for (size_t i = 0; i < sf_sandbox_n_refused; i++)
		if (strcmp(sf_sandbox_refused[i], name) == 0)
			return true;
	return false;
}

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0; /* not a call of this architecture */
	int rc = seccomp_rule_add(ctx, action, nr, 0);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp rule for %s: %s", name, strerror(-rc));
		return -1;
	}
	return 0;
}

/* The calls whose arguments matter: socket() only for the families the server uses (netlink:
 * getaddrinfo asks the kernel for the host's addresses), clone() only for threads. */
static int argument_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6, AF_UNIX, AF_NETLINK };
	int rc = 0;
	for (size_t i = 0; i < sizeof families / sizeof *families && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0));
	/* clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes glibc fall
	 * back to clone(), whose flags it can. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc < 0)
		snprintf(err, errlen, "seccomp argument rules: %s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

int sf_sandbox_seccomp_load(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp: cannot filter every thread (TSYNC): %s", strerror(-rc));
		goto fail;
	}
	/* Only a debugging aid: an older kernel without it still gets the filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1) < 0)
		sf_logf("seccomp: the kernel cannot log refused calls (SCMP_FLTATR_CTL_LOG)");
	for (size_t i = 0; i < sf_sandbox_n_allowed; i++) {
		const char *name = sf_sandbox_allowed[i];
		if (is_refused(name)) {
			snprintf(err, errlen, "seccomp: %s is both allowed and refused", name);
			goto fail;
		}
		if (strcmp(name, "socket") == 0 || strcmp(name, "clone") == 0)
			continue; /* argument_rules */
		if (rule(ctx, SCMP_ACT_ALLOW, name, err, errlen) < 0)
			goto fail;
	}
	if (argument_rules(ctx, err, errlen) < 0)
		goto fail;
	rc = seccomp_load(ctx);
	if (rc < 0) {
		/* with TSYNC, a positive thread id means that thread could not be synchronized */
		snprintf(err, errlen, "seccomp_load: %s", strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

int sf_sandbox_seccomp(char *err, size_t errlen)
{
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world at exit with a ptrace()d helper thread: refused here. */
	snprintf(err, errlen, "--seccomp is not available in a sanitizer (ASan) build: "
			      "LeakSanitizer needs ptrace");
	return -1;
#else
	return sf_sandbox_seccomp_load(err, errlen);
#endif
}
