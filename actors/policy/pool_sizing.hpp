#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace troupe::policy {

/// Bounds and horizon of a pool's target size.
struct pool_bounds {
  int32_t min = 2;
  int32_t max = 32;
  double lead_time_s = 1.0; ///< stock should cover this much demand at the recent rate
};

/// The recent rate of cold-start demand (sandboxes taken a second), smoothed
/// exponentially with time constant `tau_s`: a burst raises it at once, a
/// quiet spell lets it decay.
class demand_rate {
public:
  explicit demand_rate(double tau_s = 10.0) : tau_s_(tau_s) {}

  void on_take(int64_t now_ms) {
    decay(now_ms);
    rate_ += 1.0 / tau_s_;
  }

  double per_second(int64_t now_ms) {
    decay(now_ms);
    return rate_;
  }

private:
  void decay(int64_t now_ms) {
    if (last_ms_ >= 0 && now_ms > last_ms_)
      rate_ *= std::exp(-double(now_ms - last_ms_) / 1000.0 / tau_s_);
    last_ms_ = std::max(last_ms_, now_ms);
  }

  double tau_s_;
  double rate_ = 0;
  int64_t last_ms_ = -1;
};

/// The pool's target size: enough stock for `lead_time_s` of demand at the
/// recent rate, within [min, max].
inline int32_t pool_target(double demand_per_s, const pool_bounds& b) {
  auto want = static_cast<int32_t>(std::ceil(demand_per_s * b.lead_time_s));
  return std::clamp(want, b.min, std::max(b.min, b.max));
}

/// How long a refill should wait (0: make it now). While cold starts keep
/// coming (the last one less than `quiet_ms` ago) and the stock still holds at
/// least half the target, a refill waits for the lull: making a template costs
/// the CPU the cold starts of a burst need, and the stock is there to absorb
/// the burst. Once the stock runs below half, refills go on regardless.
inline int64_t refill_delay_ms(size_t stock, size_t target, int64_t last_take_ms, int64_t now_ms,
                               int64_t quiet_ms = 50) {
  if (last_take_ms < 0 || stock * 2 < target)
    return 0;
  auto since = now_ms - last_take_ms;
  return since >= quiet_ms ? 0 : quiet_ms - since;
}

} // namespace troupe::policy
