#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace troupe::policy {

/// Retries at most a fraction of requests, a token scheme as in gRPC retry
/// throttling. Contract: the caller reports every first attempt with
/// `on_request` and asks `try_retry` before every retry, sending the retry only
/// if it says yes. Tokens are counted in millionths, so ten requests at a ratio
/// of 0.1 earn exactly one retry.
class retry_budget {
public:
  /// Each request earns `ratio` tokens, a retry spends one; at most `max_tokens` are saved (it
  /// starts full), so over any stretch retries <= ratio * requests + max_tokens.
  explicit retry_budget(double ratio = 0.1, double max_tokens = 10)
      : earn_(to_units(ratio)), max_(to_units(max_tokens)), tokens_(max_) {}

  /// A first attempt.
  void on_request() {
    ++requests_;
    tokens_ = std::min(max_, tokens_ + earn_);
  }

  /// Spends a token if there is one.
  [[nodiscard]] bool try_retry() {
    if (tokens_ < unit) {
      ++refused_;
      return false;
    }
    tokens_ -= unit;
    ++retries_;
    return true;
  }

  int64_t requests() const { return requests_; }
  int64_t retries() const { return retries_; }
  int64_t refused() const { return refused_; }

  /// The tokens saved now.
  double tokens() const { return double(tokens_) / double(unit); }

private:
  static constexpr int64_t unit = 1000000; ///< one token

  /// Millionths of a token, rounded; negative amounts count as none.
  static int64_t to_units(double tokens) {
    return std::llround(std::clamp(tokens, 0.0, 1e12) * double(unit));
  }

  int64_t earn_;
  int64_t max_;
  int64_t tokens_;
  int64_t requests_ = 0;
  int64_t retries_ = 0;
  int64_t refused_ = 0;
};

} // namespace troupe::policy
