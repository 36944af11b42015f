#pragma once
// The system calls a sandboxed program may make: compiled once by the node
// (sandbox.cpp), installed by troupe-sandbox-init right before exec.

#include <linux/filter.h>

#include <string>
#include <vector>

namespace troupe::runtime {

/// A seccomp-bpf program for this architecture, compiled but not installed.
struct seccomp_program {
  std::vector<sock_filter> instructions;
};

/// Compiles the sandbox's policy: a default-deny allowlist (everything unlisted
/// fails with EPERM) modelled on the container runtimes' default profiles; see
/// seccomp_policy.cpp. Pure computation, but about 1.7 ms of it, so the node does
/// it once and sends the result with every spec. Returns "" or "seccomp: <step>: <reason>".
std::string compile_sandbox_seccomp_filter(seccomp_program& out);

/// Installs `program` on the calling process (about 0.1 ms). Returns "" or
/// "seccomp: install: <reason>".
///
/// Contract: the caller has set no_new_privs and given up its privileges, and
/// calls this as the last step before execve; the filter cannot be removed and
/// holds for every program exec'd or forked afterwards. On failure nothing is
/// installed and the caller must not exec.
std::string install_seccomp_filter(const seccomp_program& program);

/// Both of the above, for a caller with no time to save.
std::string load_sandbox_seccomp_filter();

} // namespace troupe::runtime
