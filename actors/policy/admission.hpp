#pragma once

#include "actors/policy/token_bucket.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace troupe::policy {

/// What one tenant may send through one ingress node.
struct admission_limits {
  double rate_per_s = 0;   ///< requests a second (0: no rate limit)
  double burst = 0;        ///< requests saved up beyond the rate (at least 1)
  int64_t concurrency = 0; ///< invocations in flight at once (0: no limit)
};

/// Which limit refused a request.
enum class refusal { none, rate, concurrency };

/// The ingress's admission of invocations, per tenant: a token bucket for the
/// request rate and a count of invocations in flight. Contract: every request
/// `admit` let in is given back with `release` once it is answered; a refused
/// one takes nothing. Checked cheaply and early, so a refusal costs no queue
/// space downstream. Time is a parameter (milliseconds, monotonic).
class tenant_admission {
public:
  explicit tenant_admission(admission_limits limits = {}) : limits_(limits) {}

  refusal admit(const std::string& tenant, int64_t now_ms) {
    auto& t = gate(tenant);
    if (limits_.concurrency > 0 && t.in_flight >= limits_.concurrency)
      return refusal::concurrency;
    if (t.bucket && !t.bucket->take(now_ms))
      return refusal::rate;
    ++t.in_flight;
    return refusal::none;
  }

  void release(const std::string& tenant) {
    if (auto it = tenants_.find(tenant); it != tenants_.end() && it->second.in_flight > 0)
      --it->second.in_flight;
  }

  int64_t in_flight(const std::string& tenant) const {
    auto it = tenants_.find(tenant);
    return it == tenants_.end() ? 0 : it->second.in_flight;
  }

  /// Milliseconds until the tenant's rate allows another request (0: now).
  int64_t wait_ms(const std::string& tenant, int64_t now_ms) {
    auto& t = gate(tenant);
    return t.bucket ? t.bucket->wait_ms(now_ms) : 0;
  }

  const admission_limits& limits() const { return limits_; }

private:
  struct tenant_gate {
    std::optional<token_bucket> bucket;
    int64_t in_flight = 0;
  };

  tenant_gate& gate(const std::string& tenant) {
    auto it = tenants_.find(tenant);
    if (it != tenants_.end())
      return it->second;
    tenant_gate g;
    if (limits_.rate_per_s > 0)
      g.bucket.emplace(limits_.rate_per_s, std::max(1.0, limits_.burst));
    return tenants_.emplace(tenant, std::move(g)).first->second;
  }

  admission_limits limits_;
  std::map<std::string, tenant_gate> tenants_;
};

} // namespace troupe::policy
