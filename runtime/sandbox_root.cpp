// The root file system of a sandbox, built by troupe-sandbox-init inside its own
// mount namespace while it is still root (runtime/sandbox_root.hpp).

#include "runtime/sandbox_root.hpp"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace troupe::runtime::init {

namespace {

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

/// /etc with the runtime's identity named as Lambda names it (sbx_user).
void populate_etc(root_builder& b, const root_plan& plan) {
  b.dir("/etc");
  std::string passwd = "root:x:0:0:root:/root:/bin/sh\n"
                       "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  std::string group = "root:x:0:\nnogroup:x:65534:\n";
  if (plan.uid != 0 && plan.uid != 65534) {
    auto uid = std::to_string(plan.uid), gid = std::to_string(plan.gid);
    passwd += "sbx_user:x:" + uid + ":" + gid + ":sandbox:/tmp:/usr/sbin/nologin\n";
    group += "sbx_user:x:" + gid + ":\n";
  }
  b.file("/etc/passwd", passwd);
  b.file("/etc/group", group);
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
void build_root(const std::string& root, const root_plan& plan) {
  check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  check(mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"),
        "mount root tmpfs");
  root_builder b(root);
  b.dir("/usr");
  b.bind_ro("/usr", "/usr");
  top_level_links(b);
  populate_etc(b, plan);
  b.dir("/var");
  b.dir("/var/task");
  if (!plan.runtime_dir.empty()) {
    b.dir("/var/runtime");
    b.bind_ro(plan.runtime_dir, "/var/runtime");
  }
  b.dir("/tmp", 01777);
  b.tmpfs("/tmp", MS_NOSUID | MS_NODEV, "size=" + std::to_string(plan.tmp_bytes) + ",mode=1777");
  populate_dev(b);
  b.dir("/proc", 0555);
  check(mount("proc", b.at("/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
        "mount /proc");
  protect_proc(b);
}

} // namespace

void build_and_enter_root(const std::string& root, const root_plan& plan) {
  build_root(root, plan);
  check(chdir(root.c_str()), "chdir new root");
  check(static_cast<int>(syscall(SYS_pivot_root, ".", ".")), "pivot_root");
  check(umount2(".", MNT_DETACH), "detach old root");
  check(chdir("/"), "chdir /");
  check(mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr),
        "remount / read-only");
  check(sethostname("troupe", 6), "sethostname");
}

} // namespace troupe::runtime::init
