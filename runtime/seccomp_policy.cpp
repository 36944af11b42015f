// The sandbox's system-call allowlist, after Docker's default seccomp profile
// (moby/profiles/seccomp/default.json), tightened where Troupe needs less.
//
// Everything not listed fails with EPERM. Denied on purpose, although some
// container profiles allow them: the mount API (mount, umount2, pivot_root,
// chroot, fsopen, fsmount, move_mount, open_tree, ...), namespaces (unshare,
// setns, clone with a CLONE_NEW* flag), other processes' memory (ptrace,
// process_vm_readv/writev, pidfd_getfd, process_madvise, kcmp, move_pages,
// migrate_pages), kernel code and state (kexec_*, *_module, bpf,
// perf_event_open, syslog, acct, quotactl, swapon/off, reboot, iopl, ioperm,
// lookup_dcookie), keyrings (keyctl, add_key, request_key), file handles
// (name_to_handle_at, open_by_handle_at), userfaultfd, io_uring_*,
// fanotify_*, clocks (clock_settime, settimeofday, adjtimex, clock_adjtime),
// sethostname/setdomainname, and sockets other than AF_UNIX/AF_INET/AF_INET6
// (no netlink, no packet sockets).
//
// Allowed without conditions although they sound powerful: prctl and ioctl
// (runtimes use both; the harmful requests need capabilities the program no
// longer has, and no tty is reachable), the set*id calls and capset (without
// capabilities they can only drop or reshuffle one's own ids), and seccomp
// itself (a further filter can only restrict more).
//
// Every refusal is EPERM rather than a kill: the call does not happen either
// way, and a runtime probing for a feature gets an answer it can handle.
// clone3 is the one exception (ENOSYS): its flags live in a struct a filter
// cannot read, and ENOSYS makes glibc fall back to clone(), which is checked.

#include "runtime/seccomp_policy.hpp"

#include <seccomp.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <linux/seccomp.h>
#include <memory>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace troupe::runtime {

namespace {

/// Allowed without conditions. Names the running architecture lacks (or this
/// libseccomp does not know yet) are skipped.
// clang-format off
constexpr const char* allowed[] = {
    // file descriptors and file I/O
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "open",
    "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "flock",
    "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "fadvise64", "readahead",
    "fallocate", "truncate", "ftruncate", "ioctl", "pipe", "pipe2", "memfd_create", "eventfd",
    "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "io_setup",
    "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    // file system names and metadata
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
    "faccessat2", "chdir", "fchdir", "getcwd", "mkdir", "mkdirat", "rmdir", "rename", "renameat",
    "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink",
    "readlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown",
    "fchownat", "umask", "utime", "utimes", "utimensat", "futimesat", "getdents", "getdents64",
    "mknod", "mknodat", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
    "fremovexattr",
    // memory (NUMA policy of one's own pages is harmless)
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "membarrier", "mbind", "set_mempolicy",
    "get_mempolicy", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages", "cachestat",
    "mseal", "map_shadow_stack",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill",
    "tgkill", "pause", "alarm", "pidfd_open", "pidfd_send_signal", "restart_syscall",
    // time (reading clocks and timers only)
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "times", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete",
    // waiting and synchronisation
    "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "set_robust_list",
    "get_robust_list", "rseq", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
    // sockets (socket and socketpair are conditional, below)
    "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "setsockopt", "getsockopt", "getsockname", "getpeername", "shutdown",
    // processes (clone is conditional, below)
    "fork", "vfork", "execve", "execveat", "wait4", "waitid", "exit", "exit_group",
    "set_tid_address", "arch_prctl", "prctl", "getpid", "getppid", "gettid", "getpgid", "getpgrp",
    "setpgid", "getsid", "setsid", "uname", "sysinfo", "getrandom", "getcpu",
    // identity and limits: without capabilities these can only lower or reshuffle one's own
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
    "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    "setgroups", "capget", "capset", "getrlimit", "setrlimit", "prlimit64", "getrusage",
    // scheduling of one's own threads
    "getpriority", "setpriority", "sched_yield", "sched_getaffinity", "sched_setaffinity",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_getattr", "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "ioprio_get", "ioprio_set",
    // System V and POSIX IPC (the sandbox has its own IPC namespace)
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "shmget",
    "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
    // restricting oneself further
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
};
// clang-format on

/// clone() flags that would create namespaces (CLONE_NEWTIME is clone3/unshare only).
constexpr std::uint64_t namespace_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;

/// personality(): the default persona, PER_LINUX32, and the query 0xffffffff.
constexpr std::uint32_t allowed_personas[] = {0x0, 0x8, 0xffffffff};

using filter_ptr = std::unique_ptr<void, decltype(&seccomp_release)>;

/// "The first argument, an int, equals `value`": only its low 32 bits are
/// compared, as the kernel reads no more (a caller's sign extension is harmless).
scmp_arg_cmp first_int_is(std::uint32_t value) {
  return scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, 0xffffffffu, value};
}

/// "The first argument, an unsigned long, has none of the bits in `mask`".
scmp_arg_cmp first_has_none_of(std::uint64_t mask) {
  return scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, mask, 0};
}

/// Adds one rule for `name`; "" when done (or the name does not exist here).
std::string add(scmp_filter_ctx ctx, const char* name, std::uint32_t action,
                std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr < 0) // __NR_SCMP_ERROR, or a pseudo number: no such call on this architecture
    return {};
  int rc =
      seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
  return rc < 0 ? std::string("seccomp: rule for ") + name + ": " + std::strerror(-rc)
                : std::string();
}

/// The calls allowed only with certain arguments.
std::string add_conditional(scmp_filter_ctx ctx) {
  std::string e = add(ctx, "clone", SCMP_ACT_ALLOW,
                      {first_has_none_of(namespace_flags)}); // flags: arg 0 but on s390
  if (e.empty())
    e = add(ctx, "clone3", SCMP_ACT_ERRNO(ENOSYS));
  for (int family : {AF_UNIX, AF_INET, AF_INET6})
    if (e.empty())
      e = add(ctx, "socket", SCMP_ACT_ALLOW, {first_int_is(family)});
  if (e.empty())
    e = add(ctx, "socketpair", SCMP_ACT_ALLOW, {first_int_is(AF_UNIX)});
  for (std::uint32_t persona : allowed_personas)
    if (e.empty())
      e = add(ctx, "personality", SCMP_ACT_ALLOW, {first_int_is(persona)});
  return e;
}

std::string set_attributes(scmp_filter_ctx ctx) {
  // Raw kernel errors from libseccomp; another ABI's calls kill the process (no way
  // around the filter through x32 or i386 numbers); a binary tree over the syscall
  // numbers keeps every call's check short despite ~300 rules.
  struct {
    scmp_filter_attr attr;
    std::uint32_t value;
    const char* name;
  } settings[] = {{SCMP_FLTATR_API_SYSRAWRC, 1, "raw return codes"},
                  {SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS, "bad-architecture action"},
                  {SCMP_FLTATR_CTL_OPTIMIZE, 2, "binary-tree optimisation"}};
  for (const auto& s : settings)
    if (int rc = seccomp_attr_set(ctx, s.attr, s.value); rc < 0)
      return std::string("seccomp: set ") + s.name + ": " + std::strerror(-rc);
  return {};
}

/// Reads all of the (small) file behind `fd` into `out`.
bool read_whole(int fd, seccomp_program& out) {
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
    return false;
  out.instructions.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
  return pread(fd, out.instructions.data(), static_cast<std::size_t>(size), 0) == size;
}

/// The filter's BPF as libseccomp generates it (through a memfd: 2.5 exports to fds only).
std::string export_program(scmp_filter_ctx ctx, seccomp_program& out) {
  int fd = memfd_create("troupe-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    return std::string("seccomp: export: memfd: ") + std::strerror(errno);
  std::string e;
  if (int rc = seccomp_export_bpf(ctx, fd); rc < 0)
    e = std::string("seccomp: export: ") + std::strerror(-rc);
  else if (!read_whole(fd, out))
    e = "seccomp: export: unreadable program";
  close(fd);
  return e;
}

} // namespace

std::string compile_sandbox_seccomp_filter(seccomp_program& out) {
  filter_ptr ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)), &seccomp_release);
  if (!ctx)
    return "seccomp: init: out of memory";
  std::string e = set_attributes(ctx.get());
  for (const char* name : allowed)
    if (e.empty())
      e = add(ctx.get(), name, SCMP_ACT_ALLOW);
  if (e.empty())
    e = add_conditional(ctx.get());
  return e.empty() ? export_program(ctx.get(), out) : e;
}

std::string install_seccomp_filter(const seccomp_program& program) {
  sock_fprog fprog{static_cast<unsigned short>(program.instructions.size()),
                   const_cast<sock_filter*>(program.instructions.data())};
  errno = EINVAL;
  if (program.instructions.empty() || program.instructions.size() > BPF_MAXINSNS ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
    return std::string("seccomp: install: ") + std::strerror(errno);
  return {};
}

std::string load_sandbox_seccomp_filter() {
  seccomp_program program;
  std::string e = compile_sandbox_seccomp_filter(program);
  return e.empty() ? install_seccomp_filter(program) : e;
}

} // namespace troupe::runtime
