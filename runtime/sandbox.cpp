#include "runtime/sandbox.hpp"

#include "net/detail/io_runtime_impl.hpp"
#include "runtime/cgroup.hpp"
#include "runtime/sandbox_host.hpp"
#include "runtime/sandbox_wire.hpp"
#include "runtime/seccomp_policy.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <linux/close_range.h>
#include <mutex>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace troupe::runtime {

using detail::await_message;
using detail::close_fd;
using detail::errno_text;
using detail::leases;
using detail::listen_in_netns;
using detail::send_frame;

namespace {

constexpr auto start_timeout = std::chrono::seconds(5);
constexpr auto ready_timeout = std::chrono::seconds(10); // an interpreter's start, under load
constexpr std::size_t child_stack_size = 64 * 1024;
constexpr int child_namespaces =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

std::atomic<unsigned> sandbox_counter{0};

// ---- cloning the init ---------------------------------------------------

/// Low descriptor numbers kept (on /dev/null) for handing a new init its
/// socket. A clone that copies the node's descriptor table, which the child
/// then closes, costs time in proportion to every socket, pidfd and file the
/// node holds: with a few thousand instances that was the largest part of
/// making a template. A child that shares the table instead (CLONE_FILES)
/// and unshares only the numbers up to its slot (close_range with
/// CLOSE_RANGE_UNSHARE) copies a few dozen, however busy the node.
class fd_slots {
public:
  static fd_slots& get() {
    static fd_slots slots;
    return slots;
  }
  /// A slot now holding a duplicate of `fd`, or -1 if none is free (the
  /// caller falls back to a copied table).
  int take(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    while (!free_.empty()) {
      int slot = free_.back();
      free_.pop_back();
      if (dup3(fd, slot, O_CLOEXEC) == slot)
        return slot;
    }
    return -1;
  }
  /// Puts /dev/null back in the slot (dropping the socket it held).
  void give_back(int slot) {
    std::lock_guard<std::mutex> lock(mu_);
    if (dup3(null_, slot, O_CLOEXEC) == slot)
      free_.push_back(slot);
  }

private:
  /// Taken at the first template, while the node's lowest numbers are still
  /// free; a slot that came out high would make its clones copy more, so
  /// those are not kept.
  fd_slots() {
    null_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; null_ >= 0 && i < 8; ++i) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd > 2 && fd < 256)
        free_.push_back(fd);
      else if (fd >= 0)
        ::close(fd);
    }
  }
  std::mutex mu_;
  int null_ = -1;
  std::vector<int> free_;
};

/// Everything the cloned child touches, prepared before clone: the child shares
/// the parent's memory (CLONE_VM) and may only make async-signal-safe calls.
struct child_args {
  const char* argv[2];
  const char* envp[1];
  int sock;
  std::string exec_failed; ///< "exec <init>: errno ", completed by the child
  int slot = -1; ///< sock's duplicate in a low slot: the child shares the table until it unshares
};

int child_main(void* p) {
  auto* a = static_cast<child_args*>(p);
  int from = a->sock;
  bool ok = true;
  if (a->slot >= 0) {
    // The table is still the node's: nothing may change in it before this
    // gives the child a copy of the slots and below, and nothing above.
    from = a->slot;
    ok = syscall(SYS_close_range, unsigned(a->slot) + 1, ~0u, CLOSE_RANGE_UNSHARE) == 0;
  }
  ok = ok && (from == 3 ? fcntl(3, F_SETFD, 0) == 0 : dup2(from, 3) == 3);
  if (ok) {
    syscall(SYS_close_range, 4u, ~0u, 0u);
    execve(a->argv[0], const_cast<char* const*>(a->argv), const_cast<char* const*>(a->envp));
  }
  char digits[12];
  std::size_t n = 0;
  for (int e = errno; n == 0 || e > 0; e /= 10)
    digits[sizeof digits - ++n] = static_cast<char>('0' + e % 10);
  int out = ok ? 3 : from;
  (void)!write(out, a->exec_failed.data(), a->exec_failed.size());
  (void)!write(out, digits + sizeof digits - n, n);
  _exit(127);
}

/// Clones the child into new namespaces, vfork-style (the calling thread waits
/// until the child has exec'd). Signals stay blocked across the clone so no handler
/// runs in the child; troupe-sandbox-init unblocks them.
pid_t clone_child(child_args& args, int& pidfd) {
  std::unique_ptr<char[]> stack(new char[child_stack_size]);
  auto top = reinterpret_cast<std::uintptr_t>(stack.get() + child_stack_size) & ~std::uintptr_t{15};
  args.slot = fd_slots::get().take(args.sock);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int flags = child_namespaces | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD |
              (args.slot >= 0 ? CLONE_FILES : 0);
  pid_t pid = ::clone(child_main, reinterpret_cast<void*>(top), flags, &args, &pidfd);
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (args.slot >= 0) // the child has its own table by now (or is gone)
    fd_slots::get().give_back(args.slot);
  errno = e;
  return pid;
}

/// `run_dir`, made if missing: the directory every init of the pool mounts its
/// root over, each in its own mount namespace. Nothing is made per sandbox:
/// creating and removing a host directory at every template costs an inode
/// allocation and a free, which on a journal-less ext4 grew to half a
/// millisecond under churn (the allocator skips recently deleted inodes).
bool ensure_run_dir(const std::string& run_dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec)
    error = "create " + run_dir + ": " + ec.message();
  return !ec;
}

// ---- watching for the exit ------------------------------------------------

/// Shared between the sandbox and the pending wait on the io threads.
/// Reaping is decided under `mu`: the watcher reaps only if not cancelled, the
/// destructor only if the watcher has not, so exactly one waitpid happens.
struct exit_watch {
  exit_watch(boost::asio::io_context& ctx, int fd, pid_t p) : pidfd(ctx, fd), pid(p) {}

  std::mutex mu;
  std::condition_variable idle;
  /// The sandbox's own pidfd, released (not closed) when the watch is cancelled:
  /// one descriptor per instance, not two, counts when a host holds thousands.
  boost::asio::posix::stream_descriptor pidfd;
  pid_t pid;
  std::function<void(int)> fn;
  bool cancelled = false;
  bool reaped = false;
  bool running = false;   ///< fn is being called
  std::thread::id runner; ///< the thread calling fn
};

int reap(pid_t pid) {
  int status = -1;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

/// The runtime process's wait status from the init's: the init exits with
/// the runtime's exit code, or 128 + the signal that ended it (the shell's
/// convention; a program exiting with 129..192 itself reads as killed).
/// A killed init (kill(), the OOM killer) keeps its own status.
int runtime_status(int init_status) {
  if (WIFEXITED(init_status) && WEXITSTATUS(init_status) > 128 &&
      WEXITSTATUS(init_status) - 128 < NSIG)
    return WEXITSTATUS(init_status) - 128; // as a wait status: terminated by that signal
  return init_status;
}

void on_pidfd_readable(const std::shared_ptr<exit_watch>& w, const boost::system::error_code& ec) {
  std::unique_lock<std::mutex> lock(w->mu);
  if (ec || w->cancelled)
    return;
  int status = runtime_status(reap(w->pid));
  w->reaped = true;
  w->running = true;
  w->runner = std::this_thread::get_id();
  auto fn = std::move(w->fn);
  lock.unlock();
  fn(status);
  lock.lock();
  w->running = false;
  w->idle.notify_all();
}

/// Stops the watcher: afterwards fn is neither running (unless on this very
/// thread) nor ever called. Returns whether the watcher reaped the process.
bool cancel_watch(exit_watch& w) {
  std::unique_lock<std::mutex> lock(w.mu);
  w.cancelled = true;
  auto self = std::this_thread::get_id();
  w.idle.wait(lock, [&] { return !w.running || w.runner == self; });
  boost::system::error_code ignored;
  w.pidfd.cancel(ignored);
  w.pidfd.release(); // the sandbox closes it
  return w.reaped;
}

// ---- the syscall filter ---------------------------------------------------------

/// The node's compiled seccomp program as raw bytes: compiled once (about
/// 1.7 ms), sent to every sandbox with its spec. Sets `error` if it cannot be.
const std::string& node_seccomp_program(std::string& error) {
  static std::string compile_error;
  static const std::string program = [] {
    seccomp_program p;
    compile_error = compile_sandbox_seccomp_filter(p);
    return std::string(reinterpret_cast<const char*>(p.instructions.data()),
                       p.instructions.size() * sizeof(sock_filter));
  }();
  error = compile_error;
  return program;
}

// ---- limits -------------------------------------------------------------------

/// A template's CPU weight until it is claimed: the least there is, so that
/// making templates in the background yields the CPU to claimed instances.
constexpr uint32_t template_cpu_weight = 1;

/// The sandbox's cgroup with the options' limits (the CPU weight still the
/// template's), holding `pid`, named `name`. Made when the sandbox is prepared: moving a process
/// into a v1 cgroup waits for an RCU grace period, which must stay off the request path. nullptr
/// with no limits asked for; nullptr and `error` set where they cannot be had.
std::unique_ptr<instance_cgroup> confine(const sandbox_options& opts, const std::string& name,
                                         pid_t pid, std::string& error) {
  cgroup_limits limits{opts.memory_bytes, opts.pids_max, opts.cpu_weight};
  if (limits.memory_bytes == 0 && limits.pids_max == 0 && limits.cpu_weight == 0)
    return nullptr;
  auto layout = host_cgroup_layout(error);
  if (!layout)
    return nullptr;
  auto cg = instance_cgroup::create(*layout, name, limits, error); // checks them all
  if (cg && limits.cpu_weight > 0)
    error = cg->set_limits({0, 0, template_cpu_weight});
  if (cg && error.empty())
    error = cg->add(pid);
  if (!error.empty())
    return nullptr; // the cgroup's destructor removes it
  return cg;
}

} // namespace

// ---- sandbox ----------------------------------------------------------------

struct sandbox::impl {
  uint16_t port = 0;
  int pidfd = -1;
  int sock = -1;      ///< host end of the control socket, until the claim (-1 after)
  int listen_fd = -1; ///< Runtime API listener until released
  uint16_t proxy_port = 0;
  int proxy_fd = -1;  ///< egress proxy listener until released
  int output_fd = -1; ///< the runtime's output pipe (read end) until released
  bool uid_leased = false;
  uint32_t cpu_weight = 0; ///< the instance's, written at the claim
  std::shared_ptr<exit_watch> watch;
  std::unique_ptr<instance_cgroup> cgroup; ///< joined and limited at prepare
};

namespace {

/// Gives the sandbox its identity: its own uid from the options' range, or the fixed one.
std::string choose_identity(const sandbox_options& opts, uint32_t& uid, uint32_t& gid,
                            bool& leased) {
  uid = opts.uid;
  gid = opts.gid;
  if (opts.uid_count == 0)
    return {};
  if (!leases().take(opts.uid_base, opts.uid_count, uid))
    return "all " + std::to_string(opts.uid_count) + " sandbox uids from " +
           std::to_string(opts.uid_base) + " are in use";
  gid = uid;
  leased = true;
  return {};
}

/// The detached copy of `dir` that the init moves onto /var/task: read-only,
/// nosuid, nodev before the sandbox ever sees it. -1 and `error` on failure.
int code_tree(const std::string& dir, std::string& error) {
  int fd = open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) {
    error = errno_text("code directory " + dir);
    return -1;
  }
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    error = errno_text("make the code mount read-only");
    close_fd(fd);
  }
  return fd;
}

} // namespace

std::unique_ptr<sandbox> sandbox::prepare(const sandbox_options& opts, std::string& error) {
  std::unique_ptr<sandbox> sb(new sandbox());
  sb->impl_ = std::make_unique<impl>();
  impl& im = *sb->impl_;
  im.port = opts.runtime_api_port;
  im.proxy_port = opts.proxy_port;
  if (access(opts.init_path.c_str(), X_OK) < 0) {
    error = errno_text("sandbox init " + opts.init_path);
    return nullptr;
  }
  const auto& filter = node_seccomp_program(error);
  if (!error.empty())
    return nullptr;
  wire::template_frame t{
      opts.run_dir, opts.runtime_dir, opts.prestart_argv, opts.prestart_env, opts.tmp_bytes, 0, 0,
      filter};
  if (error = choose_identity(opts, t.uid, t.gid, im.uid_leased); !error.empty())
    return nullptr;
  sb->uid_ = t.uid;
  if (!ensure_run_dir(opts.run_dir, error))
    return nullptr;
  std::string frame = wire::encode(t);
  if (frame.size() > wire::max_payload + sizeof(std::uint32_t)) {
    error = "sandbox template too large";
    return nullptr;
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    error = errno_text("socketpair");
    return nullptr;
  }
  im.sock = fds[0];
  child_args args{
      {opts.init_path.c_str(), nullptr}, {nullptr}, fds[1], "exec " + opts.init_path + ": errno "};
  sb->pid_ = clone_child(args, im.pidfd);
  int clone_errno = errno;
  ::close(fds[1]);
  if (sb->pid_ < 0) {
    error = errno_text("clone sandbox", clone_errno);
    return nullptr;
  }
  // The destructor kills, reaps and cleans up after any failure from here on.
  im.listen_fd = listen_in_netns(im.pidfd, im.port, error, im.proxy_port, &im.proxy_fd);
  if (im.listen_fd < 0)
    return nullptr;
  // Unique on this host while this node runs; stale ones name a dead pid.
  auto name = "sb-" + std::to_string(getpid()) + "-" + std::to_string(sandbox_counter++);
  im.cgroup = confine(opts, name, sb->pid_, error);
  im.cpu_weight = opts.cpu_weight;
  if (!error.empty()) {
    error = "cgroup for the sandbox: " + error;
    return nullptr;
  }
  // Only now, inside its cgroup, does the init fork the runtime process.
  if (error = send_frame(im.sock, frame, {}); !error.empty())
    return nullptr;
  error = await_message(im.sock, wire::ready, std::chrono::steady_clock::now() + ready_timeout,
                        "ready");
  if (!error.empty())
    return nullptr;
  return sb;
}

std::string sandbox::start(const sandbox_spec& spec) {
  int sock = std::exchange(impl_->sock, -1); // one claim per sandbox; closed once it is done
  if (sock < 0)
    return "sandbox already started";
  auto claim = [&]() -> std::string {
    std::string frame = wire::encode(wire::claim_frame{spec.argv, spec.env, spec.capture_output});
    if (frame.size() > wire::max_payload + sizeof(std::uint32_t))
      return "sandbox spec too large";
    if (impl_->cgroup && impl_->cpu_weight > 0)
      if (auto e = impl_->cgroup->set_limits({0, 0, impl_->cpu_weight}); !e.empty())
        return e;
    std::string error;
    int tree = code_tree(spec.code_dir, error);
    if (tree < 0)
      return error;
    claimed_at_ = std::chrono::steady_clock::now();
    error = send_frame(sock, frame, {tree});
    close_fd(tree);
    if (error.empty())
      error = await_message(sock, wire::started, claimed_at_ + start_timeout, "the start",
                            spec.capture_output ? &impl_->output_fd : nullptr);
    if (error.empty() && spec.capture_output && impl_->output_fd < 0)
      error = "sandbox init handed over no output pipe";
    return error;
  };
  auto error = claim();
  if (!error.empty())
    kill();
  close_fd(sock); // nothing more to say: the exit shows on the pidfd
  return error;
}

bool sandbox::alive() const {
  pollfd p{impl_->pidfd, POLLIN, 0};
  return impl_->pidfd >= 0 && poll(&p, 1, 0) == 0;
}

int sandbox::release_runtime_api_fd() {
  int fd = impl_->listen_fd;
  impl_->listen_fd = -1;
  return fd;
}

int sandbox::release_proxy_fd() {
  return std::exchange(impl_->proxy_fd, -1);
}

std::string sandbox::proxy_address() const {
  return impl_->proxy_port == 0 ? "" : "127.0.0.1:" + std::to_string(impl_->proxy_port);
}

int sandbox::release_output_fd() {
  return std::exchange(impl_->output_fd, -1);
}

std::string sandbox::runtime_api_address() const {
  return "127.0.0.1:" + std::to_string(impl_->port);
}

void sandbox::on_exit(net::io_runtime& io, std::function<void(int wait_status)> fn) {
  if (impl_->watch || impl_->pidfd < 0)
    return; // at most one watcher
  auto w = std::make_shared<exit_watch>(net::asio_context(io), impl_->pidfd, pid_);
  w->fn = std::move(fn);
  std::lock_guard<std::mutex> lock(w->mu);
  impl_->watch = w;
  w->pidfd.async_wait(boost::asio::posix::descriptor_base::wait_read,
                      [w](const boost::system::error_code& ec) { on_pidfd_readable(w, ec); });
}

void sandbox::kill() {
  if (impl_ && impl_->pidfd >= 0)
    syscall(SYS_pidfd_send_signal, impl_->pidfd, SIGKILL, nullptr, 0u);
  if (impl_ && impl_->cgroup)
    impl_->cgroup->kill_all();
}

bool sandbox::oom_killed() const {
  return impl_ && impl_->cgroup && impl_->cgroup->oom_killed();
}

uint64_t sandbox::peak_memory_bytes() const {
  return impl_ && impl_->cgroup ? impl_->cgroup->peak_memory_bytes() : 0;
}

sandbox::~sandbox() {
  if (!impl_)
    return;
  bool reaped = impl_->watch && cancel_watch(*impl_->watch);
  if (pid_ > 0 && !reaped) {
    kill();
    reap(pid_);
  }
  impl_->cgroup.reset(); // empty by now: kills stragglers, removes the directories
  if (impl_->uid_leased)
    leases().give_back(uid_); // nothing runs as it any more
  close_fd(impl_->sock);
  close_fd(impl_->listen_fd);
  close_fd(impl_->proxy_fd);
  close_fd(impl_->output_fd);
  close_fd(impl_->pidfd);
}

} // namespace troupe::runtime
