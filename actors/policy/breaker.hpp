#pragma once

#include <cstdint>
#include <string>

namespace troupe::policy {

/// When a breaker opens, how long it stays open, and how it probes its way back.
struct breaker_settings {
  int32_t consecutive_failures = 5; ///< opens after this many failures in a row ...
  double failure_ratio = 0.5;       ///< ... or when this fraction of the window's outcomes failed
  int32_t window_min_calls = 10;    ///< ... and the window holds at least this many outcomes
  int64_t window_ms = 10000;        ///< length of the (fixed, restarting) window for the ratio
  int64_t cool_down_ms = 500;       ///< how long it stays open the first time
  int64_t max_cool_down_ms = 30000; ///< cap of the cool-down, which doubles on each reopening
  int32_t probes = 1;               ///< calls let through half-open; all must succeed to close
};

enum class breaker_state { closed, open, half_open };

/// What `breaker::admit` says about one call.
enum class admission {
  allowed,  ///< closed: go ahead
  probe,    ///< half-open: go ahead, and report the outcome (it decides whether to close)
  rejected, ///< open, or half-open with every probe out: do not send
};

/// The name of a state for logs: "closed", "open" or "half_open".
const char* to_string(breaker_state);

/// A circuit breaker guarding calls to one host (or one function on one host).
///
///   closed -(consecutive or ratio failures)-> open -(cool-down passes, at admit)-> half_open
///   half_open -(all `probes` probes succeed)-> closed
///   half_open -(a probe fails)-> open with cool-down doubled (capped at max)
///
/// Contract: the caller asks `admit` before each call and reports the outcome of
/// every call it sent, `probe`s included (a probe that never answers must be
/// reported as a failure, or the breaker stays half-open). Only platform
/// failures are reported as failures, never a function's own error. Outcomes
/// reported while open are ignored: they are late answers of earlier calls.
///
/// Closed, failures open it when `consecutive_failures` come in a row, or when
/// the current window holds at least `window_min_calls` outcomes of which at
/// least `failure_ratio` failed (checked as each failure is reported). The
/// window is fixed: it starts at the first outcome after the previous one
/// expired and lasts `window_ms`.
///
/// Half-open, at most `probes` calls are let through; a success counts only
/// against an outstanding probe, and a failure of any call reopens it. When it
/// closes, the window and the consecutive count start afresh.
///
/// Each opening lasts the cool-down. It doubles (up to `max_cool_down_ms`) when
/// a probe fails, and when it opens from closed within `max_cool_down_ms` of
/// having last closed; after staying closed longer than that it falls back to
/// `cool_down_ms` (checked when it next opens).
///
/// Time is a parameter: milliseconds on any monotonic scale.
class breaker {
public:
  explicit breaker(breaker_settings s = {});

  /// Whether a call may go now.
  /// - closed: allowed;
  /// - open and the cool-down passed: turns half-open (and goes on as half-open);
  /// - half-open: probe while fewer than `probes` probes are out, else rejected
  ///   ("out": let through since it turned half-open, answered or not);
  /// - open: rejected.
  [[nodiscard]] admission admit(int64_t now_ms);

  /// Reports that a call succeeded.
  void on_success(int64_t now_ms);

  /// Reports that a call failed for a platform reason (never a function's own error).
  void on_failure(int64_t now_ms);

  /// A probe let through whose call was never made (its target was full, or
  /// the call ended before it tested anything): its turn goes to the next.
  void on_cancelled();

  /// Whether `admit` would let a call through now, without asking it.
  bool would_admit(int64_t now_ms) const;

  breaker_state state() const { return state_; }

  /// Milliseconds until it would let a probe through (0 unless open).
  int64_t retry_after_ms(int64_t now_ms) const;

  /// Why it last opened ("" if never), e.g. "5 consecutive platform failures",
  /// "6 of 10 calls failed in 10000 ms" or "a probe failed".
  const std::string& reason() const { return reason_; }

  /// How many times it has opened (from closed or from half-open).
  int64_t times_opened() const { return times_opened_; }

  /// How many calls `admit` has rejected.
  int64_t rejected() const { return rejected_; }

  /// How many outcomes were ignored because they arrived while open (or were
  /// successes in half-open with no probe outstanding).
  int64_t ignored() const { return ignored_; }

  /// The cool-down the next (or current) opening uses: while open, the current
  /// one; otherwise the next one, before the fall-back to `cool_down_ms` that a
  /// long enough stretch closed brings.
  int64_t cool_down_ms() const;

private:
  void record(bool failed, int64_t now_ms);
  void trip_from_closed(int64_t now_ms);
  void open(int64_t now_ms, int64_t cool_down_ms, std::string why);
  void close(int64_t now_ms);
  int64_t doubled(int64_t cool_down_ms) const;

  breaker_settings settings_;
  breaker_state state_ = breaker_state::closed;
  int32_t consecutive_ = 0;       ///< failures in a row while closed
  bool window_open_ = false;      ///< whether a ratio window is running
  int64_t window_start_ms_ = 0;   ///< when the running window started
  int32_t window_calls_ = 0;      ///< outcomes in the running window
  int32_t window_failures_ = 0;   ///< failures among them
  int64_t open_until_ms_ = 0;     ///< when the current opening ends
  int64_t last_cool_down_ms_ = 0; ///< cool-down of the current or last opening (0: never opened)
  int64_t closed_at_ms_ = 0;      ///< when it last closed after an opening
  int32_t probes_sent_ = 0;       ///< probes let through since it turned half-open
  int32_t probes_outstanding_ = 0;
  int32_t probes_succeeded_ = 0;
  std::string reason_;
  int64_t times_opened_ = 0;
  int64_t rejected_ = 0;
  int64_t ignored_ = 0;
};

} // namespace troupe::policy
