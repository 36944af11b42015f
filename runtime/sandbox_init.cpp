// troupe-sandbox-init: the first process (PID 1) of every sandbox.
//
// Usage: troupe-sandbox-init <root-dir>, with fd 3 the control socket to the host.
// Waits for one spec (runtime/sandbox_wire.hpp), assembles a read-only root file
// system on a tmpfs over <root-dir> inside its own mount namespace, pivots into
// it, hardens the process and execs the spec's argv with exactly the spec's
// environment and only fds 0..2 open. fd 3 is close-on-exec, so a successful
// exec shows as EOF on the host; any failure is written to fd 3 as
// "<step>: <strerror>" and the process exits with 127. EOF before a spec (the host
// gave up on the sandbox) exits quietly with 0.
//
// Hardening, in this order: resource limits (below); an empty capability
// bounding set and locked securebits (no capabilities from uid 0 or from
// setuid, no ambient raise), while CAP_SETPCAP is still held; the spec's
// uid/gid; empty effective, permitted, inheritable and ambient sets;
// no_new_privs; and last, just before execve, the seccomp allowlist of
// runtime/seccomp_policy.cpp (compiled once by the node and sent with the spec,
// so a sandbox pays only for installing it). Even uid 0 inside therefore holds no capability.

#include "runtime/sandbox_wire.hpp"
#include "runtime/seccomp_policy.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

using troupe::runtime::sandbox_spec;
using troupe::runtime::seccomp_program;

constexpr int report_fd = 3;
constexpr int lowest_free_fd = 4;

/// Reports `msg` to the host and exits.
[[noreturn]] void fail_with(const std::string& msg) {
  (void)!write(report_fd, msg.data(), msg.size());
  _exit(127);
}

/// Reports `step` with the current errno to the host and exits.
[[noreturn]] void fail(const std::string& step) {
  fail_with(step + ": " + std::strerror(errno));
}

void check(int rc, const std::string& step) {
  if (rc < 0)
    fail(step);
}

// ---- receiving the spec -------------------------------------------------

/// Reads exactly `n` bytes; false on EOF.
bool read_full(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      fail("read spec");
    if (got == 0)
      return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

/// Receives the first bytes of the frame together with the output fd, if any.
/// Returns the number of bytes read (0 = EOF) and sets `fd` (-1 when absent).
std::size_t receive_head(char* buf, std::size_t len, int& fd) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do
    got = recvmsg(report_fd, &msg, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  check(static_cast<int>(got), "receive spec");
  fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return static_cast<std::size_t>(got);
}

/// Reads the spec and the seccomp program; exits quietly if the host closed
/// the socket without sending them.
sandbox_spec receive_spec(seccomp_program& filter) {
  char head[sizeof(std::uint32_t)];
  int fd = -1;
  std::size_t got = receive_head(head, sizeof head, fd);
  if (got == 0)
    _exit(0);
  if (!read_full(report_fd, head + got, sizeof head - got))
    _exit(0);
  std::uint32_t len;
  std::memcpy(&len, head, sizeof len);
  errno = EMSGSIZE;
  if (len > troupe::runtime::wire::max_payload)
    fail("receive spec");
  std::string payload(len, '\0');
  if (!read_full(report_fd, payload.data(), len))
    _exit(0);
  sandbox_spec spec;
  std::string program;
  errno = EBADMSG;
  if (!troupe::runtime::wire::decode(payload, spec, program) || program.empty() ||
      program.size() % sizeof(sock_filter) != 0)
    fail("decode spec");
  filter.instructions.resize(program.size() / sizeof(sock_filter));
  std::memcpy(filter.instructions.data(), program.data(), program.size());
  // Keep the output fd clear of 0..3, which are about to be overwritten.
  spec.output_fd = fd < lowest_free_fd && fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, lowest_free_fd) : fd;
  return spec;
}

// ---- the root file system -----------------------------------------------

/// Mount flags that a read-only remount of `path` has to keep (locked ones included).
unsigned long kept_flags(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) < 0)
    return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOEXEC)
    flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME)
    flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME)
    flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME)
    flags |= MS_RELATIME;
  return flags;
}

/// Builds the tree below `root_`; `inner` paths are as the program will see them.
class root_builder {
public:
  explicit root_builder(std::string root) : root_(std::move(root)) {}

  std::string at(const std::string& inner) const { return root_ + inner; }

  void dir(const std::string& inner, mode_t mode = 0755) {
    if (mkdir(at(inner).c_str(), mode) < 0 && errno != EEXIST)
      fail("mkdir " + inner);
  }

  void file(const std::string& inner, const std::string& content, mode_t mode = 0644) {
    int fd = open(at(inner).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    check(fd, "create " + inner);
    if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
      fail("write " + inner);
    close(fd);
  }

  void link(const std::string& target, const std::string& inner) {
    check(symlink(target.c_str(), at(inner).c_str()), "symlink " + inner);
  }

  void tmpfs(const std::string& inner, unsigned long flags, const std::string& options) {
    check(mount("tmpfs", at(inner).c_str(), "tmpfs", flags, options.c_str()), "mount " + inner);
  }

  /// Binds host `src` at `inner`, then makes that mount read-only with `flags`.
  void bind_ro(const std::string& src, const std::string& inner,
               unsigned long flags = MS_NOSUID | MS_NODEV) {
    check(mount(src.c_str(), at(inner).c_str(), nullptr, MS_BIND, nullptr), "mount " + inner);
    remount_ro(inner, flags);
  }

  void remount_ro(const std::string& inner, unsigned long flags) {
    flags |= MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(at(inner));
    check(mount(nullptr, at(inner).c_str(), nullptr, flags, nullptr),
          "remount " + inner + " read-only");
  }

  /// Binds the host's device node `/dev/<name>` onto an empty file.
  void device(const std::string& name) {
    file("/dev/" + name, "", 0666);
    check(mount(("/dev/" + name).c_str(), at("/dev/" + name).c_str(), nullptr, MS_BIND, nullptr),
          "mount /dev/" + name);
  }

private:
  std::string root_;
};

/// /bin, /lib, ...: the host's merged-usr links are copied, real directories bound.
void top_level_links(root_builder& b) {
  for (const char* name : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
    std::string host = std::string("/") + name;
    struct stat st {};
    if (lstat(host.c_str(), &st) < 0)
      continue;
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlink(host.c_str(), target, sizeof target - 1);
      check(static_cast<int>(n), "readlink " + host);
      b.link(std::string(target, static_cast<std::size_t>(n)), host);
    } else if (S_ISDIR(st.st_mode)) {
      b.dir(host);
      b.bind_ro(host, host);
    }
  }
}

void populate_etc(root_builder& b) {
  b.dir("/etc");
  b.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  b.file("/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  b.file("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
  b.file("/etc/hostname", "troupe\n");
  struct stat st {};
  if (stat("/etc/ssl/certs", &st) == 0 && S_ISDIR(st.st_mode)) {
    b.dir("/etc/ssl");
    b.dir("/etc/ssl/certs");
    b.bind_ro("/etc/ssl/certs", "/etc/ssl/certs");
  }
}

void populate_dev(root_builder& b) {
  b.dir("/dev");
  b.tmpfs("/dev", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755");
  for (const char* name : {"null", "zero", "random", "urandom"})
    b.device(name);
  b.link("/proc/self/fd", "/dev/fd");
  b.link("/proc/self/fd/0", "/dev/stdin");
  b.link("/proc/self/fd/1", "/dev/stdout");
  b.link("/proc/self/fd/2", "/dev/stderr");
  b.remount_ro("/dev", MS_NOSUID | MS_NOEXEC);
}

/// The /proc entries that act on the host rather than the sandbox, read-only as in
/// Docker's default: uid 0 may write a root-owned sysctl such as kernel.core_pattern
/// without any capability.
void protect_proc(root_builder& b) {
  for (const char* inner :
       {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"})
    if (access(b.at(inner).c_str(), F_OK) == 0)
      b.bind_ro(b.at(inner), inner, MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

/// Everything below the new root, which is a fresh tmpfs over `root`.
void build_root(const std::string& root, const sandbox_spec& spec) {
  check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  check(mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"),
        "mount root tmpfs");
  root_builder b(root);
  b.dir("/usr");
  b.bind_ro("/usr", "/usr");
  top_level_links(b);
  populate_etc(b);
  b.dir("/var");
  b.dir("/var/task");
  b.bind_ro(spec.code_dir, "/var/task");
  if (!spec.runtime_dir.empty()) {
    b.dir("/var/runtime");
    b.bind_ro(spec.runtime_dir, "/var/runtime");
  }
  b.dir("/tmp", 01777);
  b.tmpfs("/tmp", MS_NOSUID | MS_NODEV, "size=" + std::to_string(spec.tmp_bytes) + ",mode=1777");
  populate_dev(b);
  b.dir("/proc", 0555);
  check(mount("proc", b.at("/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
        "mount /proc");
  protect_proc(b);
}

/// Makes `root` the root directory and drops the host's tree from this namespace.
void enter_root(const std::string& root) {
  check(chdir(root.c_str()), "chdir new root");
  check(static_cast<int>(syscall(SYS_pivot_root, ".", ".")), "pivot_root");
  check(umount2(".", MNT_DETACH), "detach old root");
  check(chdir("/"), "chdir /");
  check(mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr),
        "remount / read-only");
  check(sethostname("troupe", 6), "sethostname");
}

// ---- the process --------------------------------------------------------

/// stdin from /dev/null, stdout and stderr to the output fd; nothing else but fd 3.
void set_up_fds(int output_fd) {
  int null_fd = open("/dev/null", O_RDWR); // not CLOEXEC: it may land on 0..2
  check(null_fd, "open /dev/null");
  int out = output_fd >= 0 ? output_fd : null_fd;
  check(dup2(null_fd, 0), "dup2 stdin");
  check(dup2(out, 1), "dup2 stdout");
  check(dup2(out, 2), "dup2 stderr");
  check(static_cast<int>(syscall(SYS_close_range, lowest_free_fd, ~0u, 0)), "close_range");
}

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
/// RLIMIT_FSIZE is left alone: /tmp is already capped by its tmpfs size, and the
/// limit would also apply to stdout, the host's per-function log (O_APPEND, shared
/// by all instances): once that log outgrew it, every write would raise SIGXFSZ
/// and kill the runtime. RLIMIT_NPROC counts per uid across the whole host; the
/// pids cgroup limits processes instead.
void limit_resources() {
  rlimit none{0, 0};
  check(setrlimit(RLIMIT_CORE, &none), "setrlimit RLIMIT_CORE");
  rlimit files{1024, 1024};
  check(setrlimit(RLIMIT_NOFILE, &files), "setrlimit RLIMIT_NOFILE");
}

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

/// Becomes uid/gid with no supplementary groups and no capabilities at all.
/// SECBIT_NO_SETUID_FIXUP keeps the capabilities across setresuid, so the
/// uid change itself is allowed whatever the uid; clear_capabilities ends them.
void drop_privileges(const sandbox_spec& spec) {
  restrict_capability_gain();
  check(setgroups(0, nullptr), "setgroups");
  check(setresgid(spec.gid, spec.gid, spec.gid), "setresgid");
  check(setresuid(spec.uid, spec.uid, spec.uid), "setresuid");
  clear_capabilities();
  check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
}

std::vector<char*> c_strings(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (auto& s : items)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void exec_program(sandbox_spec& spec, const seccomp_program& filter) {
  errno = EINVAL;
  if (spec.argv.empty() || spec.argv[0].empty())
    fail("exec: empty argv");
  auto argv = c_strings(spec.argv);
  auto envp = c_strings(spec.env);
  check(chdir("/var/task"), "chdir /var/task");
  std::string error = troupe::runtime::install_seccomp_filter(filter);
  if (!error.empty())
    fail_with(error);
  execve(argv[0], argv.data(), envp.data());
  fail("exec " + spec.argv[0]);
}

} // namespace

int main(int argc, char** argv) {
  if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0)
    return 126; // no control socket: nobody to report to
  errno = EINVAL;
  if (argc != 2)
    fail("usage: troupe-sandbox-init <root-dir>");
  umask(022);
  seccomp_program filter; // compiled once per node, sent with the spec
  sandbox_spec spec = receive_spec(filter);
  build_root(argv[1], spec);
  enter_root(argv[1]);
  set_up_fds(spec.output_fd);
  reset_signals();
  limit_resources();
  drop_privileges(spec);
  exec_program(spec, filter);
}
