#pragma once
// Internal to sandbox.cpp: the host's side of a sandbox's plumbing: the
// Runtime API listener inside the sandbox's network namespace, the control
// socket messages (runtime/sandbox_wire.hpp) and the node-wide uid leases.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace troupe::runtime::detail {

/// "<step>: <strerror(e)>".
std::string errno_text(const std::string& step, int e = errno);

/// Closes `fd` if open and sets it to -1.
void close_fd(int& fd);

/// Joins the network namespace of the process behind `pidfd` on a short-lived
/// thread (namespaces are per thread), brings lo up and listens on
/// 127.0.0.1:`port` there. The socket stays in that namespace after the
/// thread is gone. -1 and `error` on failure. With `second_port`, also
/// listens there (into `*second_fd`) on the same visit.
int listen_in_netns(int pidfd, uint16_t port, std::string& error, uint16_t second_port = 0,
                    int* second_fd = nullptr);

/// Sends `frame` with `fds` (at most two) attached to its first bytes.
std::string send_frame(int sock, const std::string& frame, const std::vector<int>& fds);

/// Waits for the init's one-byte message `expected`: "" when it came, else why
/// not (the init's own error text, its EOF, or the deadline). With `fd`
/// (which must be -1), an fd the init attached to that byte lands there.
std::string await_message(int sock, char expected, std::chrono::steady_clock::time_point deadline,
                          const char* what, int* fd = nullptr);

/// uids handed to live sandboxes, node-wide: a uid is free again only once
/// the tree that ran as it is gone.
class uid_leases {
public:
  /// A uid in [base, base + count) not held by a live sandbox; false if none.
  bool take(uint32_t base, uint32_t count, uint32_t& out);
  void give_back(uint32_t uid);

private:
  std::mutex mu_;
  std::set<uint32_t> taken_;
  uint32_t cursor_ = 0;
};

/// The node's leases.
uid_leases& leases();

} // namespace troupe::runtime::detail
