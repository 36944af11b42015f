#include "actors/policy/breaker.hpp"

#include <algorithm>
#include <utility>

namespace troupe::policy {

namespace {

const char* plural(int32_t n) {
  return n == 1 ? "" : "s";
}

} // namespace

const char* to_string(breaker_state s) {
  switch (s) {
  case breaker_state::closed:
    return "closed";
  case breaker_state::open:
    return "open";
  case breaker_state::half_open:
    return "half_open";
  }
  return "unknown";
}

breaker::breaker(breaker_settings s) : settings_(s) {}

admission breaker::admit(int64_t now_ms) {
  if (state_ == breaker_state::closed)
    return admission::allowed;
  if (state_ == breaker_state::open && now_ms >= open_until_ms_) {
    state_ = breaker_state::half_open;
    probes_sent_ = probes_outstanding_ = probes_succeeded_ = 0;
  }
  if (state_ == breaker_state::half_open && probes_sent_ < std::max(1, settings_.probes)) {
    ++probes_sent_;
    ++probes_outstanding_;
    return admission::probe;
  }
  ++rejected_;
  return admission::rejected;
}

void breaker::on_success(int64_t now_ms) {
  switch (state_) {
  case breaker_state::closed:
    consecutive_ = 0;
    record(false, now_ms);
    return;
  case breaker_state::half_open:
    if (probes_outstanding_ == 0) {
      ++ignored_;
      return;
    }
    --probes_outstanding_;
    if (++probes_succeeded_ >= std::max(1, settings_.probes))
      close(now_ms);
    return;
  case breaker_state::open:
    ++ignored_;
    return;
  }
}

void breaker::on_failure(int64_t now_ms) {
  switch (state_) {
  case breaker_state::closed:
    ++consecutive_;
    record(true, now_ms);
    trip_from_closed(now_ms);
    return;
  case breaker_state::half_open:
    open(now_ms, doubled(last_cool_down_ms_),
         probes_outstanding_ > 0 ? "a probe failed" : "a call failed while half-open");
    return;
  case breaker_state::open:
    ++ignored_;
    return;
  }
}

void breaker::on_cancelled() {
  if (state_ != breaker_state::half_open || probes_outstanding_ == 0)
    return;
  --probes_outstanding_;
  --probes_sent_;
}

bool breaker::would_admit(int64_t now_ms) const {
  switch (state_) {
  case breaker_state::closed:
    return true;
  case breaker_state::open:
    return now_ms >= open_until_ms_;
  case breaker_state::half_open:
    break;
  }
  return probes_sent_ < std::max(1, settings_.probes);
}

int64_t breaker::retry_after_ms(int64_t now_ms) const {
  if (state_ != breaker_state::open)
    return 0;
  return std::max<int64_t>(0, open_until_ms_ - now_ms);
}

int64_t breaker::cool_down_ms() const {
  if (times_opened_ == 0)
    return std::min(settings_.cool_down_ms, settings_.max_cool_down_ms);
  if (state_ == breaker_state::open)
    return last_cool_down_ms_;
  return doubled(last_cool_down_ms_);
}

/// Counts one outcome in the ratio window, starting a new window if the last one expired.
void breaker::record(bool failed, int64_t now_ms) {
  if (!window_open_ || now_ms - window_start_ms_ >= settings_.window_ms) {
    window_open_ = true;
    window_start_ms_ = now_ms;
    window_calls_ = window_failures_ = 0;
  }
  ++window_calls_;
  if (failed)
    ++window_failures_;
}

/// Opens if the consecutive or the ratio rule says so.
void breaker::trip_from_closed(int64_t now_ms) {
  std::string why;
  if (consecutive_ >= settings_.consecutive_failures)
    why = std::to_string(consecutive_) + " consecutive platform failure" + plural(consecutive_);
  else if (window_calls_ >= settings_.window_min_calls &&
           double(window_failures_) >= settings_.failure_ratio * double(window_calls_))
    why = std::to_string(window_failures_) + " of " + std::to_string(window_calls_) + " call" +
          plural(window_calls_) + " failed in " + std::to_string(settings_.window_ms) + " ms";
  else
    return;
  bool recently_closed = times_opened_ > 0 && now_ms - closed_at_ms_ <= settings_.max_cool_down_ms;
  int64_t c = recently_closed ? doubled(last_cool_down_ms_)
                              : std::min(settings_.cool_down_ms, settings_.max_cool_down_ms);
  open(now_ms, c, std::move(why));
}

void breaker::open(int64_t now_ms, int64_t cool_down_ms, std::string why) {
  state_ = breaker_state::open;
  open_until_ms_ = now_ms + cool_down_ms;
  last_cool_down_ms_ = cool_down_ms;
  reason_ = std::move(why);
  ++times_opened_;
  probes_sent_ = probes_outstanding_ = probes_succeeded_ = 0;
}

void breaker::close(int64_t now_ms) {
  state_ = breaker_state::closed;
  closed_at_ms_ = now_ms;
  consecutive_ = 0;
  window_open_ = false;
  window_calls_ = window_failures_ = 0;
}

/// Twice `cool_down_ms`, capped at the maximum (and safe from overflow).
int64_t breaker::doubled(int64_t cool_down_ms) const {
  int64_t cap = settings_.max_cool_down_ms;
  return cool_down_ms > cap / 2 ? cap : std::min(cap, cool_down_ms * 2);
}

} // namespace troupe::policy
