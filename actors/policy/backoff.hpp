#pragma once

#include <algorithm>
#include <cstdint>

namespace troupe::policy {

/// The delays of an exponential backoff: `base_ms` before the first retry,
/// doubling each retry, never above `cap_ms`.
struct backoff_settings {
  int64_t base_ms = 10;
  int64_t cap_ms = 1000;
};

/// The same without jitter (the ceiling), for schedules that must be predictable.
/// That is min(cap, base * 2^retry), where retry 0 is the first retry (a negative
/// retry counts as 0); large retry numbers give the cap, never an overflow.
inline int64_t exponential_ms(const backoff_settings& s, int32_t retry) {
  int64_t cap = std::max<int64_t>(0, s.cap_ms);
  int64_t base = std::max<int64_t>(0, s.base_ms);
  int32_t r = std::max(0, retry);
  if (base == 0)
    return 0;
  if (r >= 63 || base > (cap >> r))
    return cap;
  return base << r;
}

/// Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^retry)] where retry 0 is
/// the first retry; `unit` is a random number in [0,1) supplied by the caller.
inline int64_t full_jitter_ms(const backoff_settings& s, int32_t retry, double unit) {
  int64_t ceiling = exponential_ms(s, retry);
  double u = std::clamp(unit, 0.0, 1.0);
  double d = u * (double(ceiling) + 1.0); // integers 0..ceiling, each equally likely
  if (!(d < double(ceiling)))
    return ceiling;
  return static_cast<int64_t>(d);
}

} // namespace troupe::policy
