#pragma once
// Internal to troupe-sandbox-init: the sandbox's root file system.

#include <cstdint>
#include <string>

namespace troupe::runtime::init {

/// Reports `msg` to the host on the control socket ('E' + text) and exits 127.
[[noreturn]] void fail_with(const std::string& msg);
/// fail_with("<step>: <strerror(errno)>").
[[noreturn]] void fail(const std::string& step);
inline void check(int rc, const std::string& step) {
  if (rc < 0)
    fail(step);
}

/// What the root is made of.
struct root_plan {
  std::string runtime_dir; ///< host path for /var/runtime, "" = none
  std::uint64_t tmp_bytes = 0;
  std::uint32_t uid = 0; ///< the runtime process's identity, named in /etc/passwd
  std::uint32_t gid = 0;
};

/// Assembles the root on a fresh tmpfs over `root` (host /usr and the merged-usr
/// links read-only, /etc, a minimal /dev, /proc, /tmp, /var/runtime, an empty
/// /var/task for the late code mount), pivots into it and drops the host's tree
/// from this mount namespace. The root stays read-only from then on.
void build_and_enter_root(const std::string& root, const root_plan& plan);

} // namespace troupe::runtime::init
