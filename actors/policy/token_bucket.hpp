#pragma once

#include <algorithm>
#include <cstdint>

namespace troupe::policy {

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Time is a
/// parameter (milliseconds on any monotonic scale), so it is deterministic.
class token_bucket {
public:
  token_bucket(double rate_per_s, double burst)
      : rate_(rate_per_s), burst_(burst), tokens_(burst) {}

  /// Takes one token if there is one.
  bool take(int64_t now_ms) {
    refill(now_ms);
    if (tokens_ < 1.0)
      return false;
    tokens_ -= 1.0;
    return true;
  }

  /// Milliseconds from `now_ms` until a token is available (0 if one is).
  int64_t wait_ms(int64_t now_ms) {
    refill(now_ms);
    if (tokens_ >= 1.0 || rate_ <= 0)
      return 0;
    return static_cast<int64_t>((1.0 - tokens_) / rate_ * 1000.0) + 1;
  }

private:
  void refill(int64_t now_ms) {
    if (last_ms_ >= 0 && now_ms > last_ms_)
      tokens_ = std::min(burst_, tokens_ + double(now_ms - last_ms_) * rate_ / 1000.0);
    last_ms_ = std::max(last_ms_, now_ms);
  }

  double rate_;
  double burst_;
  double tokens_;
  int64_t last_ms_ = -1;
};

} // namespace troupe::policy
