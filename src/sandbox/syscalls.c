/* The system calls the server makes once it runs (measured with strace -f over the interop
 * suite, TLS/ACME included; docs/security.md "Sandbox"). Everything else fails with EPERM. */
#include "sandbox/sandbox.h"

const char *const sf_sandbox_allowed[] = {
	/* event loops (libevent: epoll, its eventfd/pipe notification, signals) */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "pipe2",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "getpid",
	"gettid", "kill",
	/* time */
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "timerfd_create",
	"timerfd_settime",
	/* threads (shards, the ACME worker, libcurl's resolver threads) and memory */
	"clone", "futex", "set_robust_list", "set_tid_address", "rseq", "restart_syscall",
	"madvise", "mmap", "munmap", "mprotect", "mremap", "brk", "sched_yield",
	"sched_getaffinity", "exit", "exit_group", "prlimit64", "getrandom", "membarrier",
	/* sockets: listeners, clients, ORPort dials, the ACME client and its DNS lookups */
	"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
	"getpeername", "setsockopt", "getsockopt", "shutdown", "sendto", "recvfrom", "sendmsg",
	"recvmsg", "sendmmsg", "recvmmsg", "poll", "ppoll", "select", "pselect6",
	/* descriptors and files: the log (reopened on SIGHUP), the certificate cache, cookie
	 * files, the CA bundle, /etc/hosts, resolv.conf, nsswitch.conf for getaddrinfo */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "dup", "dup2", "dup3",
	"fcntl", "ioctl", "lseek", "openat", "open", "newfstatat", "fstat", "stat", "lstat",
	"statx", "access", "faccessat", "faccessat2", "readlink", "getdents64", "mkdir",
	"mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "fsync", "fdatasync",
	"ftruncate", "fchmod", "umask", "uname", "getuid", "geteuid", "getgid", "getegid",
	"getcwd", "sysinfo",
};
const size_t sf_sandbox_n_allowed = sizeof sf_sandbox_allowed / sizeof *sf_sandbox_allowed;

/* Refused whatever the list becomes (seccomp.c rejects a filter that would allow one): running
 * other programs, debugging or reading other processes, changing the kernel or the process's
 * credentials and namespaces. */
const char *const sf_sandbox_refused[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount",
	"umount2", "pivot_root", "chroot", "init_module", "finit_module", "delete_module", "bpf",
	"kexec_load", "kexec_file_load", "personality", "unshare", "setns", "setuid", "setgid",
	"setreuid", "setregid", "setresuid", "setresgid", "setgroups", "capset", "reboot",
	"swapon", "swapoff", "perf_event_open", "userfaultfd", "keyctl", "add_key",
	"request_key", "open_by_handle_at", "name_to_handle_at", "acct", "quotactl",
	"iopl", "ioperm", "settimeofday", "clock_settime", "adjtimex", "syslog", "fanotify_init",
	"io_uring_setup", "seccomp",
};
const size_t sf_sandbox_n_refused = sizeof sf_sandbox_refused / sizeof *sf_sandbox_refused;
