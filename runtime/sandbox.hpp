#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace troupe::net {
class io_runtime;
}

namespace troupe::runtime {

/// Where sandboxes come from on this host.
struct sandbox_options {
  std::string init_path; ///< the troupe-sandbox-init executable
  std::string run_dir;   ///< host directory for per-sandbox mount points (created if missing)
  uint16_t runtime_api_port = 9001; ///< port of the Runtime API inside each sandbox
};

/// What runs in a prepared sandbox: decided late, when the function is known.
struct sandbox_spec {
  std::string code_dir;              ///< host path, mounted read-only at /var/task
  std::string runtime_dir;           ///< host path mounted read-only at /var/runtime ("" = none)
  std::vector<std::string> argv;     ///< program and arguments as seen inside the sandbox
  std::vector<std::string> env;      ///< "KEY=VALUE": the whole environment
  uint64_t tmp_bytes = 512ull << 20; ///< size cap of the tmpfs at /tmp
  uint32_t uid = 65534;              ///< unprivileged identity the program runs as
  uint32_t gid = 65534;
  int output_fd = -1; ///< stdout and stderr of the program (-1: /dev/null); not owned
  /// cgroup limits of the whole tree (runtime/cgroup.hpp); all three 0 = no cgroup,
  /// one of them 0 = that resource unlimited.
  uint64_t memory_bytes = 0; ///< RAM, no swap; over it the kernel OOM-kills
  uint64_t pids_max = 0;     ///< processes and threads
  uint32_t cpu_weight = 0;   ///< 1..10000, 100 = a default share (v2 cpu.weight)
};

/// One sandboxed process tree: its own PID, mount, network, IPC and UTS
/// namespaces, a read-only root assembled from the host's /usr (and merged-usr
/// links), /var/task and /var/runtime read-only, a size-capped /tmp, a minimal
/// /dev, its own /proc, and a network namespace holding only loopback, on which
/// the host owns the listening socket of the Runtime API.
///
/// Life cycle:  prepare() -> [waiting in troupe-sandbox-init] -> start(spec)
///              -> running -> exited (watched with on_exit) ; kill() at any time.
/// Contract: the destructor kills the whole tree (the PID namespace's init),
/// reaps it, and removes the mount point directory and the cgroup (if the spec
/// asked for limits); nothing is left behind.
class sandbox {
public:
  /// Creates the namespaces and the Runtime API listener. On failure returns
  /// nullptr and sets `error`.
  static std::unique_ptr<sandbox> prepare(const sandbox_options& opts, std::string& error);

  ~sandbox();
  sandbox(const sandbox&) = delete;
  sandbox& operator=(const sandbox&) = delete;

  /// Hands the spec to the waiting init, which mounts the code, drops privileges
  /// and execs argv[0]. With limits in the spec the init is first moved into a
  /// new cgroup named after the sandbox, so the program and all its children
  /// are inside. Returns "" once exec succeeded, else why it failed (the
  /// sandbox is then dead): a cgroup that cannot be made is such a failure.
  std::string start(const sandbox_spec& spec);

  /// Takes the listening socket of the Runtime API (caller owns it afterwards).
  int release_runtime_api_fd();
  /// "127.0.0.1:<port>" as the program inside sees it.
  std::string runtime_api_address() const;

  pid_t pid() const { return pid_; }

  /// Calls `fn(wait_status)` once, on an io thread, when the process tree's
  /// init exits (the process is reaped by then). At most one watcher (later
  /// calls are ignored). `fn` is never called once the destructor has begun; a
  /// call already running on another thread is waited for by the destructor, so
  /// `fn` must not wait for the destroying thread. `fn` may destroy the sandbox.
  /// A watched sandbox must be destroyed before `io` is (once `io` stops, `fn`
  /// is not called any more).
  void on_exit(net::io_runtime& io, std::function<void(int wait_status)> fn);

  /// SIGKILL to the PID namespace's init: the kernel kills the whole tree;
  /// also to every process in the sandbox's cgroup, if it has one.
  void kill();

  /// Whether the kernel OOM-killed a process of the tree for exceeding
  /// spec.memory_bytes (false without a cgroup). Valid until destruction.
  bool oom_killed() const;
  /// The most memory the tree used so far (0 without a cgroup).
  uint64_t peak_memory_bytes() const;

  struct impl;

private:
  sandbox() = default;
  pid_t pid_ = -1;
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::runtime
