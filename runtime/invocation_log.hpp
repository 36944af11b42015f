#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::runtime {

/// What Lambda's REPORT line says of one invocation.
struct invocation_report {
  std::string request_id;
  std::string version = "$LATEST";
  double duration_ms = 0;
  int32_t memory_mb = 0;         ///< the function's MemorySize
  uint64_t max_memory_bytes = 0; ///< the most the sandbox has used so far
  double init_ms = -1;           ///< a cold start's init duration; < 0: a warm start
  /// "" when the runtime answered (a function error included), else Lambda's
  /// "timeout" or "error" (the runtime ended), with `error_type` then.
  std::string status;
  std::string error_type;
};

/// One invocation's log as Lambda writes it:
///   START RequestId: <id> Version: <version>
///   <the output, ending in a newline>
///   END RequestId: <id>
///   REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\t
///     Memory Size: 128 MB\tMax Memory Used: 41 MB\t[Init Duration: 9.87 ms\t]
///     [Status: timeout\t | Status: error\tError Type: Runtime.ExitError\t]
/// (the REPORT line is one line). Billing is by the millisecond, rounded up.
std::string invocation_log(const invocation_report& r, std::string_view output);

/// The last `max_bytes` of `log` (Lambda's LogType Tail gives the last 4 KB).
std::string_view log_tail(std::string_view log, std::size_t max_bytes = 4096);

} // namespace troupe::runtime
