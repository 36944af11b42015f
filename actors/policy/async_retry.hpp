#pragma once

#include "actors/policy/backoff.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace troupe::policy {

/// How an asynchronous (Event) invocation is retried after a failed attempt.
struct async_retry_settings {
  /// Retries after a function error (Lambda's MaximumRetryAttempts, 0..2).
  int32_t max_retries = 2;
  /// Throttles and platform errors are retried until the event is this old.
  int64_t max_event_age_ms = 6 * 3600 * 1000LL;
  /// Function errors: Lambda waits 1 min, then 2 min.
  backoff_settings function_error_backoff{60000, 120000};
  /// Throttles/platform errors: 1 s doubling up to 5 min.
  backoff_settings retry_backoff{1000, 300000};
};

/// Why an attempt failed.
enum class failure_kind {
  function_error, ///< the function ran and failed (its own error, crash or timeout)
  throttled,      ///< refused for concurrency or rate limits
  platform,       ///< the platform could not run it (host lost, launch failed, ...)
};

/// What to do with the event: try again at `at_ms`, or send it to the dead-letter destination.
struct async_decision {
  bool retry = false;
  int64_t at_ms = 0; ///< when to try again (if retry)
  /// Why it stops (if not), e.g. "retries exhausted after 3 attempts" / "event older than N s".
  std::string dead_letter_reason;
};

/// The reason for dead-lettering an event that outlived `max_event_age_ms`.
inline std::string event_too_old(int64_t max_event_age_ms) {
  if (max_event_age_ms % 1000 == 0)
    return "event older than " + std::to_string(max_event_age_ms / 1000) + " s";
  return "event older than " + std::to_string(max_event_age_ms) + " ms";
}

/// What happens to an asynchronous (Event) invocation after a failed attempt, as AWS Lambda does.
///
/// `function_error_retries`: retries already spent on function errors; `attempts`: attempts made
/// so far (including this failed one); `enqueued_ms`: when the event was accepted; `unit`: a
/// random number in [0,1) for the jitter.
/// - Function errors: retry while function_error_retries < max_retries, at now +
///   exponential_ms(function_error_backoff, function_error_retries) (no jitter: predictable
///   like Lambda).
/// - Throttles/platform: retry at now + full_jitter_ms(retry_backoff, attempts - 1, unit).
/// - Either way, never at or past enqueued_ms + max_event_age_ms: then dead-letter.
/// Every delay is at least 1 ms, so a retry is always later than `now_ms`.
inline async_decision after_failure(const async_retry_settings& s, failure_kind kind,
                                    int32_t function_error_retries, int32_t attempts,
                                    int64_t enqueued_ms, int64_t now_ms, double unit) {
  async_decision d;
  int64_t delay = 0;
  if (kind == failure_kind::function_error) {
    if (function_error_retries >= s.max_retries) {
      d.dead_letter_reason = "retries exhausted after " + std::to_string(attempts) +
                             (attempts == 1 ? " attempt" : " attempts");
      return d;
    }
    delay = exponential_ms(s.function_error_backoff, function_error_retries);
  } else {
    delay = full_jitter_ms(s.retry_backoff, attempts - 1, unit);
  }
  int64_t at = now_ms + std::max<int64_t>(1, delay);
  if (at >= enqueued_ms + s.max_event_age_ms) {
    d.dead_letter_reason = event_too_old(s.max_event_age_ms);
    return d;
  }
  d.retry = true;
  d.at_ms = at;
  return d;
}

} // namespace troupe::policy
