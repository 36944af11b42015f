#pragma once

#include "actors/policy/breaker.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace troupe::policy {

/// One function's breakers, one per host it has called (a router holds one
/// set): the "per function on a host" level. Besides each breaker's state it
/// remembers a host's last failure, so that the next placement prefers
/// another host until the cool-down has passed, before the breaker has opened.
/// Contract as for `breaker`: report every outcome of a call that was sent.
class host_breakers {
public:
  explicit host_breakers(breaker_settings s = {}) : settings_(s) {}

  /// Whether a call to `host` may go now (a host never seen is closed).
  [[nodiscard]] admission admit(const std::string& host, int64_t now_ms) {
    return entry(host).b.admit(now_ms);
  }

  void on_success(const std::string& host, int64_t now_ms) {
    auto& e = entry(host);
    e.b.on_success(now_ms);
    e.failed_last = false;
  }

  /// A probe let through to `host` whose call was never made.
  void on_cancelled(const std::string& host) { entry(host).b.on_cancelled(); }

  /// Whether a call to `host` would be let through now (a host never seen: yes).
  bool would_admit(const std::string& host, int64_t now_ms) const {
    auto it = all_.find(host);
    return it == all_.end() || it->second.b.would_admit(now_ms);
  }

  void on_failure(const std::string& host, int64_t now_ms) {
    auto& e = entry(host);
    e.b.on_failure(now_ms);
    e.failed_last = true;
    e.last_failure_ms = now_ms;
  }

  /// Hosts new instances should avoid now: open and still cooling down, and
  /// (with `recent`) those whose last call failed less than a cool-down ago
  /// (a placement there after that is the probe).
  std::vector<std::string> avoid(int64_t now_ms, bool recent = true) const {
    std::vector<std::string> out;
    for (const auto& [host, e] : all_) {
      bool failed = recent && e.failed_last && now_ms - e.last_failure_ms < settings_.cool_down_ms;
      if (cooling(e.b, now_ms) || failed)
        out.push_back(host);
    }
    return out;
  }

  /// The breaker of `host`, or null when it has had no call reported.
  const breaker* find(const std::string& host) const {
    auto it = all_.find(host);
    return it == all_.end() ? nullptr : &it->second.b;
  }

  /// Every host's breaker, by host id.
  template <class F> void for_each(F&& fn) const {
    for (const auto& [host, e] : all_)
      fn(host, e.b);
  }

private:
  struct host_entry {
    breaker b;
    bool failed_last = false;
    int64_t last_failure_ms = 0;
  };

  static bool cooling(const breaker& b, int64_t now_ms) {
    return b.state() == breaker_state::open && b.retry_after_ms(now_ms) > 0;
  }

  host_entry& entry(const std::string& host) {
    auto it = all_.find(host);
    if (it == all_.end())
      it = all_.emplace(host, host_entry{breaker{settings_}}).first;
    return it->second;
  }

  breaker_settings settings_;
  std::map<std::string, host_entry> all_;
};

} // namespace troupe::policy
