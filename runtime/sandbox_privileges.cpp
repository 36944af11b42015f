// The runtime process's privileges, dropped by troupe-sandbox-init
// (runtime/sandbox_privileges.hpp).

#include "runtime/sandbox_privileges.hpp"

#include "runtime/sandbox_root.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace troupe::runtime::init {

/// Default dispositions and an empty mask: nothing inherited from the host.
void reset_signals() {
  for (int sig = 1; sig < NSIG; ++sig)
    signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  check(sigprocmask(SIG_SETMASK, &none, nullptr), "sigprocmask");
}

/// Fixed limits of every sandboxed program (per process, inherited by its children):
///   RLIMIT_CORE   0     no core dumps (they would land in the host's core_pattern)
///   RLIMIT_NOFILE 1024  soft and hard, as most distributions' default soft limit
/// RLIMIT_FSIZE is left alone: /tmp is already capped by its tmpfs size, and
/// stdout goes through the init to the host's log. RLIMIT_NPROC counts per uid
/// across the whole host; the pids cgroup limits processes instead.
void limit_resources() {
  rlimit none{0, 0};
  check(setrlimit(RLIMIT_CORE, &none), "setrlimit RLIMIT_CORE");
  rlimit files{1024, 1024};
  check(setrlimit(RLIMIT_NOFILE, &files), "setrlimit RLIMIT_NOFILE");
}

namespace {

/// The highest capability number this kernel knows.
unsigned long last_capability() {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  check(fd, "open /proc/sys/kernel/cap_last_cap");
  char buf[16] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  check(static_cast<int>(n), "read /proc/sys/kernel/cap_last_cap");
  char* end = nullptr;
  unsigned long last = std::strtoul(buf, &end, 10);
  errno = EINVAL;
  if (end == buf || last > 255)
    fail("parse /proc/sys/kernel/cap_last_cap");
  return last;
}

/// Empties the bounding set and locks the securebits so that neither uid 0 nor a
/// uid change ever grants a capability. Both need CAP_SETPCAP: call while root.
void restrict_capability_gain() {
  for (unsigned long cap = 0, last = last_capability(); cap <= last; ++cap)
    check(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability " + std::to_string(cap));
  check(prctl(PR_SET_SECUREBITS,
              SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                  SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0),
        "set securebits");
}

/// Empties the effective, permitted, inheritable and ambient sets.
void clear_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  check(static_cast<int>(syscall(SYS_capset, &header, data)), "clear capabilities");
  check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities");
}

} // namespace

/// Becomes uid/gid with no supplementary groups and no capabilities at all.
/// SECBIT_NO_SETUID_FIXUP keeps the capabilities across setresuid, so the
/// uid change itself is allowed whatever the uid; clear_capabilities ends them.
void drop_privileges(std::uint32_t uid, std::uint32_t gid) {
  restrict_capability_gain();
  check(setgroups(0, nullptr), "setgroups");
  check(setresgid(gid, gid, gid), "setresgid");
  check(setresuid(uid, uid, uid), "setresuid");
  clear_capabilities();
  check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
}

} // namespace troupe::runtime::init
