#pragma once
// Per-instance cgroups: memory, pids and cpu limits for one sandbox, on cgroup
// v2 (unified-only hosts) or v1 (one mount per controller under /sys/fs/cgroup).
//
// Instance cgroups live beneath the node's own cgroup in each hierarchy:
//   <mount>/<own path>/troupe/<instance name>
// The node is never moved out of its cgroup, and nothing outside <own>/troupe is
// written to, except (v2 only) enabling controllers for <own>/troupe in
// <own>/cgroup.subtree_control when they are not enabled yet.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace troupe::runtime {

/// The limits of one instance; 0 leaves that resource unlimited.
struct cgroup_limits {
  uint64_t memory_bytes = 0; ///< RAM, swap excluded (no swap is allowed)
  uint64_t pids_max = 0;     ///< processes and threads
  uint64_t cpu_weight = 0;   ///< 1..10000 (v2 semantics; 100 is the default share)
};

enum class cgroup_version { v1, v2 };

/// Where instance cgroups go on this host: the `troupe` directory in the
/// hierarchy of each controller (on v2 all three are the same directory).
struct cgroup_layout {
  cgroup_version version = cgroup_version::v2;
  std::string memory; ///< e.g. /sys/fs/cgroup/memory/<own>/troupe
  std::string pids;
  std::string cpu; ///< "" when the host has no usable cpu controller
  /// v2: the node's own cgroup, whose subtree_control may need memory/pids/cpu.
  std::string own;

  /// The distinct `troupe` directories, memory first.
  std::vector<std::string> troupe_dirs() const;
};

// ---- pure planning (unit-tested with sample inputs) ----------------------

/// One line of /proc/<pid>/cgroup: "<id>:<controllers>:<path>".
struct proc_cgroup_entry {
  int hierarchy_id = -1;
  std::vector<std::string> controllers; ///< empty for the v2 line ("0::/path")
  std::string path;                     ///< absolute, as the kernel wrote it
};

/// Parses /proc/<pid>/cgroup; malformed lines are skipped.
std::vector<proc_cgroup_entry> parse_proc_cgroup(std::string_view text);

/// The cgroup path of `controller` (v1), or of the unified hierarchy when
/// `controller` is "" (the "0::" line). nullopt when absent.
std::optional<std::string> own_cgroup_path(const std::vector<proc_cgroup_entry>& entries,
                                           std::string_view controller);

/// `a` + "/" + `b` without doubled or trailing slashes ("/x" + "/" = "/x").
std::string join_cgroup_path(std::string_view a, std::string_view b);

/// Whether a whitespace-separated controller list (cgroup.controllers,
/// cgroup.subtree_control) names `controller`.
bool lists_controller(std::string_view list, std::string_view controller);

/// The value of `key` in a "key value" per line file (memory.events,
/// memory.oom_control); nullopt when absent.
std::optional<uint64_t> keyed_counter(std::string_view text, std::string_view key);

/// v1 cpu.shares for a v2 cpu.weight: weight * 1024 / 100, at least 2.
uint64_t cpu_shares_for_weight(uint64_t weight);

/// Inputs of plan_cgroup_layout, as read from the host.
struct cgroup_host_view {
  std::string proc_self_cgroup;
  /// <root>/cgroup.controllers of a unified-only host; nullopt when the file is absent.
  std::optional<std::string> v2_root_controllers;
  std::string root = "/sys/fs/cgroup";
  /// v1: which controllers have a mount at <root>/<controller> (cpu is optional).
  bool v1_memory_mounted = true, v1_pids_mounted = true, v1_cpu_mounted = true;
};

/// Decides v1 or v2 and where the `troupe` directories are. On failure returns
/// nullopt and sets `error`.
std::optional<cgroup_layout> plan_cgroup_layout(const cgroup_host_view& host, std::string& error);

/// One file write that applies a limit. `optional` writes are skipped when the
/// file does not exist (memory.memsw.* without swap accounting, memory.swap.max).
struct cgroup_write {
  std::string path;
  std::string value;
  bool optional = false;
};

/// The writes that apply `limits` to the instance `name`, in order.
std::vector<cgroup_write> limit_writes(const cgroup_layout& layout, const std::string& name,
                                       const cgroup_limits& limits);

/// Whether `name` is an acceptable instance directory name (no '/', not "." or "..").
bool valid_instance_name(std::string_view name);

/// The pid of the node that owns an instance named "<word>-<pid>-<seq>"
/// (sandboxes are named "sb-<node pid>-<n>"); nullopt for other names.
std::optional<pid_t> instance_owner(std::string_view name);

// ---- the host -------------------------------------------------------------

/// Reads /proc/self/cgroup and /sys/fs/cgroup once per process and plans the
/// layout (the result, or the error, is cached: a node does not change cgroup).
std::optional<cgroup_layout> host_cgroup_layout(std::string& error);

/// One instance's cgroup (one directory per hierarchy).
/// Contract: create() leaves nothing behind on failure; the destructor kills
/// every process still inside and removes the directories (waiting up to about
/// a second for them to empty), never throws, and reports nothing: a directory
/// it could not remove is left for remove_stale_cgroups() of the next node.
class instance_cgroup {
public:
  /// Creates `<troupe dir>/<name>` in each hierarchy (and the `troupe`
  /// directories if missing) and writes `limits`. On failure returns nullptr
  /// and sets `error`, naming the file or directory that failed.
  static std::unique_ptr<instance_cgroup> create(const cgroup_layout& layout,
                                                 const std::string& name,
                                                 const cgroup_limits& limits, std::string& error);
  ~instance_cgroup();
  instance_cgroup(const instance_cgroup&) = delete;
  instance_cgroup& operator=(const instance_cgroup&) = delete;

  /// Writes `limits` (0 leaves a resource as it is). Returns "" or the failure.
  std::string set_limits(const cgroup_limits& limits);

  /// Moves process `pid` (all its threads) into the cgroup of every hierarchy.
  /// On v1 this costs a kernel RCU grace period (about 13 ms measured here):
  /// do it before the request path, when the sandbox is prepared.
  /// Its later children are born inside. Returns "" or the failure.
  std::string add(pid_t pid);

  /// SIGKILLs every process inside (v2: cgroup.kill), again and again until the
  /// cgroup is empty or `patience` has passed (0: one pass, no waiting).
  /// Returns whether it is empty.
  bool kill_all(std::chrono::milliseconds patience = std::chrono::milliseconds(0));

  /// Whether the kernel's OOM killer killed a process in this cgroup
  /// (v2: memory.events oom_kill; v1: memory.oom_control oom_kill, or
  /// memory.failcnt > 0 on kernels before 4.13).
  bool oom_killed() const;

  /// The most memory the cgroup used (v1 memory.max_usage_in_bytes, v2
  /// memory.peak); 0 when the kernel does not tell. Read once per invocation,
  /// so the file stays open: one pread a call.
  uint64_t peak_memory_bytes() const;

  /// The instance's directories, memory hierarchy first.
  const std::vector<std::string>& dirs() const { return dirs_; }
  const std::string& name() const { return name_; }

private:
  friend std::size_t remove_stale_cgroups(const cgroup_layout& layout, std::string& error);
  instance_cgroup() = default;
  cgroup_version version_ = cgroup_version::v2;
  cgroup_layout layout_;
  std::string name_;
  std::vector<std::string> dirs_; ///< dirs_[0] carries memory
  mutable int peak_fd_ = -1;      ///< the peak's file, opened at the first read
};

/// Removes instance cgroups left behind by a node that is gone: every
/// `troupe/<word>-<pid>-<seq>` whose owner pid no longer runs (or is this very
/// process but not one of its live instances). Their processes are killed
/// first. Other names, and instances of live nodes sharing the hierarchy, are
/// left alone. Returns how many were removed; `error` lists what could not be.
std::size_t remove_stale_cgroups(const cgroup_layout& layout, std::string& error);

} // namespace troupe::runtime
