#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace troupe {

/// Makes the node's series of refusals, at 0, for every reason there is: a
/// reason that never happened is still on the dashboards (and in alerts).
void declare_invocation_metrics();

/// What a finished invocation's record needs, taken before its result is
/// handed on (and moved away).
struct invocation_summary {
  /// What became of it: "ok", "function_error", "timeout", "out_of_memory",
  /// "runtime_exit" (the function's side), or "throttled", "overloaded",
  /// "not_found", "error" (the platform refused or failed it).
  std::string_view outcome;
  bool answered = false; ///< by the function: `stats`, `version` and `cold_start` hold
  invocation_stats stats;
  std::string version;
  bool cold_start = false;
  int status = 0; ///< else: the HTTP status of the platform's error ...
  /// ... its message, and why the platform refused it (a 429's Lambda reason,
  /// or the overload that answered 503; "" when it was no refusal)
  std::string error, reason;
};
invocation_summary summarize(const caf::expected<invocation_result>& res);

/// Counts one finished invocation of `function_id` ("tenant/name") in the
/// node's metrics; `total_ms` is its time in the ingress. Before the answer
/// goes out: a caller who then scrapes finds it counted.
void count_invocation(std::string_view function_id, const invocation_summary& s, double total_ms);

/// Writes the invocation's record (request id, function, version, host,
/// instance, wait, init and run durations, billed memory, outcome) to the
/// node's log. After the answer: the caller does not wait for it.
void log_invocation(std::string_view function_id, const std::string& request_id,
                    const invocation_summary& s, double total_ms);

} // namespace troupe
