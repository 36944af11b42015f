#pragma once

#include <chrono>
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

/// Where sandboxes come from on this host, and the template they share: what
/// every sandbox of one pool has before any function claims it.
struct sandbox_options {
  std::string init_path; ///< the troupe-sandbox-init executable
  std::string run_dir;   ///< host directory each init mounts its root over, in its own namespace
                         ///< (created if missing)
  uint16_t runtime_api_port = 9001; ///< port of the Runtime API inside each sandbox
  /// Port of the egress proxy inside each sandbox (its only way out; 0: none).
  uint16_t proxy_port = 0;

  std::string runtime_dir; ///< host path mounted read-only at /var/runtime ("" = none)
  /// The runtime process pre-started in the template, e.g. an interpreter with
  /// a bootstrap that writes 'R' on fd 3 and then reads its claim there
  /// (runtime/sandbox_wire.hpp). Empty: a plain waiting process that execs the
  /// claim's argv.
  std::vector<std::string> prestart_argv;
  std::vector<std::string> prestart_env; ///< its environment until the claim
  uint64_t tmp_bytes = 512ull << 20;     ///< size cap of the tmpfs at /tmp
  /// The unprivileged identity of the runtime process (gid = uid): with
  /// uid_count > 0 each sandbox gets its own from [uid_base, uid_base + uid_count)
  /// (taken at prepare, free again once its tree is gone), else `uid`/`gid`.
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  uint32_t uid_base = 0;
  uint32_t uid_count = 0;
  /// cgroup limits of the whole tree (runtime/cgroup.hpp), written at prepare;
  /// all three 0 = no limits, one of them 0 = that resource unlimited.
  uint64_t memory_bytes = 0; ///< RAM, no swap; over it the kernel OOM-kills
  uint64_t pids_max = 0;     ///< processes and threads
  uint32_t cpu_weight = 0;   ///< 1..10000, 100 = a default share (v2 cpu.weight)
};

/// What runs in a prepared sandbox: decided late, when a function claims it.
struct sandbox_spec {
  std::string code_dir;          ///< host path, mounted read-only at /var/task
  std::vector<std::string> argv; ///< exec'd by a plain template; ignored by a pre-started one
  std::vector<std::string> env;  ///< "KEY=VALUE": the whole environment
  /// Whether the host takes the runtime's stdout and stderr (release_output_fd);
  /// else the init drains and drops them.
  bool capture_output = false;
};

/// One sandboxed process tree: its own PID, mount, network, IPC and UTS
/// namespaces, a read-only root assembled from the host's /usr (and merged-usr
/// links), /var/runtime read-only, a size-capped /tmp, a minimal /dev, its own
/// /proc, and a network namespace holding only loopback, on which the host owns
/// the listening socket of the Runtime API. PID 1 is troupe-sandbox-init; the
/// runtime process is its child, unprivileged and filtered.
///
/// Life cycle:  prepare() -> template: root built, runtime process waiting
///              -> start(spec): code mounted at /var/task, argv/env handed over
///              -> running -> exited (watched with on_exit) ; kill() at any time.
/// Contract: the destructor kills the whole tree (the PID namespace's init),
/// reaps it, and removes the mount point directory and the cgroup; nothing is
/// left behind.
class sandbox {
public:
  /// Makes a template: namespaces, cgroup with the options' limits, the Runtime
  /// API listener, the root file system, and the runtime process pre-started
  /// and waiting. Returns once it reported ready (its health check), blocking
  /// for up to 10 s; on failure returns nullptr and sets `error`.
  static std::unique_ptr<sandbox> prepare(const sandbox_options& opts, std::string& error);

  ~sandbox();
  sandbox(const sandbox&) = delete;
  sandbox& operator=(const sandbox&) = delete;

  /// Claims the template for a function: the code directory is mounted
  /// read-only at /var/task (a detached mount made here and moved in by the
  /// init), and the runtime process gets the spec's environment (a plain
  /// template execs argv). Returns "" once that is done, else why not (the
  /// sandbox is then dead). Blocks for one round trip to the init, 5 s at most.
  std::string start(const sandbox_spec& spec);

  /// Whether the tree is still there (a template in stock can die).
  bool alive() const;
  /// The uid the runtime process runs as.
  uint32_t uid() const { return uid_; }

  /// Takes the listening socket of the Runtime API (caller owns it afterwards).
  int release_runtime_api_fd();
  /// Takes the listening socket of the egress proxy (-1 without one).
  int release_proxy_fd();
  /// "127.0.0.1:<port>" of the egress proxy inside ("" without one).
  std::string proxy_address() const;
  /// Takes the read end (non-blocking) of the runtime's stdout and stderr,
  /// after a start with capture_output (caller owns it; -1 if none). Every
  /// process of the tree writes there; EOF once they are all gone. Whoever
  /// holds it must keep reading: a full pipe blocks the runtime's writes.
  int release_output_fd();
  /// When start() handed over the claim (steady clock): where an instance's
  /// init duration begins.
  std::chrono::steady_clock::time_point claimed_at() const { return claimed_at_; }
  /// "127.0.0.1:<port>" as the program inside sees it.
  std::string runtime_api_address() const;

  pid_t pid() const { return pid_; }

  /// Calls `fn(wait_status)` once, on an io thread, when the process tree ends
  /// (reaped by then): the runtime process's wait status (passed on by the
  /// init as its exit code, 128 + signal for a killed runtime, so a program
  /// exiting with 129..192 reads as killed), or the init's own when that was
  /// killed first (kill()). At most one watcher (later
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
  /// memory_bytes (false without a cgroup). Valid until destruction.
  bool oom_killed() const;
  /// The most memory the tree used so far (0 without a cgroup).
  uint64_t peak_memory_bytes() const;

  struct impl;

private:
  sandbox() = default;
  pid_t pid_ = -1;
  uint32_t uid_ = 0;
  std::chrono::steady_clock::time_point claimed_at_{};
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::runtime
