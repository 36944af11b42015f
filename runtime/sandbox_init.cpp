// troupe-sandbox-init: the first process (PID 1) of every sandbox.
//
// Usage: troupe-sandbox-init <root-dir>, with fd 3 the control socket to the host.
// Waits for one spec (runtime/sandbox_wire.hpp), assembles a read-only root file
// system on a tmpfs over <root-dir> inside its own mount namespace, pivots into
// it, drops to the spec's uid/gid and execs the spec's argv. fd 3 is close-on-exec,
// so a successful exec shows as EOF on the host; any failure is written to fd 3 as
// "<step>: <strerror>" and the process exits with 127. EOF before a spec (the host
// gave up on the sandbox) exits quietly with 0.

#include "runtime/sandbox_wire.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

using troupe::runtime::sandbox_spec;

constexpr int report_fd = 3;
constexpr int lowest_free_fd = 4;

/// Reports `step` with the current errno to the host and exits.
[[noreturn]] void fail(const std::string &step) {
  std::string msg = step + ": " + std::strerror(errno);
  (void)!write(report_fd, msg.data(), msg.size());
  _exit(127);
}

void check(int rc, const std::string &step) {
  if (rc < 0)
    fail(step);
}

// ---- receiving the spec -------------------------------------------------

/// Reads exactly `n` bytes; false on EOF.
bool read_full(int fd, char *p, std::size_t n) {
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
std::size_t receive_head(char *buf, std::size_t len, int &fd) {
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
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return static_cast<std::size_t>(got);
}

/// Reads the spec; exits quietly if the host closed the socket without one.
sandbox_spec receive_spec() {
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
  errno = EBADMSG;
  if (!troupe::runtime::wire::decode(payload, spec))
    fail("decode spec");
  // Keep the output fd clear of 0..3, which are about to be overwritten.
  spec.output_fd = fd < lowest_free_fd && fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, lowest_free_fd) : fd;
  return spec;
}

// ---- the root file system -----------------------------------------------

/// Mount flags that a read-only remount of `path` has to keep (locked ones included).
unsigned long kept_flags(const std::string &path) {
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

  std::string at(const std::string &inner) const { return root_ + inner; }

  void dir(const std::string &inner, mode_t mode = 0755) {
    if (mkdir(at(inner).c_str(), mode) < 0 && errno != EEXIST)
      fail("mkdir " + inner);
  }

  void file(const std::string &inner, const std::string &content, mode_t mode = 0644) {
    int fd = open(at(inner).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    check(fd, "create " + inner);
    if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
      fail("write " + inner);
    close(fd);
  }

  void link(const std::string &target, const std::string &inner) {
    check(symlink(target.c_str(), at(inner).c_str()), "symlink " + inner);
  }

  void tmpfs(const std::string &inner, unsigned long flags, const std::string &options) {
    check(mount("tmpfs", at(inner).c_str(), "tmpfs", flags, options.c_str()), "mount " + inner);
  }

  /// Binds host `src` at `inner`, then makes that mount read-only with `flags`.
  void bind_ro(const std::string &src, const std::string &inner,
               unsigned long flags = MS_NOSUID | MS_NODEV) {
    check(mount(src.c_str(), at(inner).c_str(), nullptr, MS_BIND, nullptr), "mount " + inner);
    remount_ro(inner, flags);
  }

  void remount_ro(const std::string &inner, unsigned long flags) {
    flags |= MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(at(inner));
    check(mount(nullptr, at(inner).c_str(), nullptr, flags, nullptr),
          "remount " + inner + " read-only");
  }

  /// Binds the host's device node `/dev/<name>` onto an empty file.
  void device(const std::string &name) {
    file("/dev/" + name, "", 0666);
    check(mount(("/dev/" + name).c_str(), at("/dev/" + name).c_str(), nullptr, MS_BIND, nullptr),
          "mount /dev/" + name);
  }

private:
  std::string root_;
};

/// /bin, /lib, ...: the host's merged-usr links are copied, real directories bound.
void top_level_links(root_builder &b) {
  for (const char *name : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
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

void populate_etc(root_builder &b) {
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

void populate_dev(root_builder &b) {
  b.dir("/dev");
  b.tmpfs("/dev", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755");
  for (const char *name : {"null", "zero", "random", "urandom"})
    b.device(name);
  b.link("/proc/self/fd", "/dev/fd");
  b.link("/proc/self/fd/0", "/dev/stdin");
  b.link("/proc/self/fd/1", "/dev/stdout");
  b.link("/proc/self/fd/2", "/dev/stderr");
  b.remount_ro("/dev", MS_NOSUID | MS_NOEXEC);
}

/// Everything below the new root, which is a fresh tmpfs over `root`.
void build_root(const std::string &root, const sandbox_spec &spec) {
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
}

/// Makes `root` the root directory and drops the host's tree from this namespace.
void enter_root(const std::string &root) {
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

/// Becomes uid/gid with no supplementary groups; a non-zero uid holds no capabilities.
void drop_privileges(const sandbox_spec &spec) {
  check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
  check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities");
  check(setgroups(0, nullptr), "setgroups");
  check(setresgid(spec.gid, spec.gid, spec.gid), "setresgid");
  check(setresuid(spec.uid, spec.uid, spec.uid), "setresuid");
}

std::vector<char *> c_strings(std::vector<std::string> &items) {
  std::vector<char *> out;
  for (auto &s : items)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void exec_program(sandbox_spec &spec) {
  errno = EINVAL;
  if (spec.argv.empty() || spec.argv[0].empty())
    fail("exec: empty argv");
  auto argv = c_strings(spec.argv);
  auto envp = c_strings(spec.env);
  check(chdir("/var/task"), "chdir /var/task");
  execve(argv[0], argv.data(), envp.data());
  fail("exec " + spec.argv[0]);
}

} // namespace

int main(int argc, char **argv) {
  if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0)
    return 126; // no control socket: nobody to report to
  errno = EINVAL;
  if (argc != 2)
    fail("usage: troupe-sandbox-init <root-dir>");
  umask(022);
  sandbox_spec spec = receive_spec();
  build_root(argv[1], spec);
  enter_root(argv[1]);
  set_up_fds(spec.output_fd);
  reset_signals();
  drop_privileges(spec);
  exec_program(spec);
}
