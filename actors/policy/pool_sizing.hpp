#pragma once

#include <algorithm>
#include <cmath>
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

} // namespace troupe::policy
