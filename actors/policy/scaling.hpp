#pragma once

#include <cstdint>

namespace troupe::policy {

/// What a router knows about one function's instances at a moment.
struct instance_counts {
  int32_t queued = 0;   ///< requests waiting for an instance
  int32_t idle = 0;     ///< started, not serving
  int32_t busy = 0;     ///< serving a request
  int32_t starting = 0; ///< launch requested, not yet answered
};

/// How many new instances to launch now: enough that every queued request has
/// an instance idle or on its way, never past `max_instances` in total.
inline int32_t launches_needed(const instance_counts& c, int32_t max_instances) {
  int32_t uncovered = c.queued - c.idle - c.starting;
  int32_t room = max_instances - (c.idle + c.busy + c.starting);
  int32_t n = uncovered < room ? uncovered : room;
  return n > 0 ? n : 0;
}

/// Whether an instance idle since `idle_since_ms` has outlived its keep-alive.
inline bool keep_alive_expired(int64_t idle_since_ms, int64_t now_ms, int64_t keep_alive_ms) {
  return now_ms - idle_since_ms >= keep_alive_ms;
}

/// Whether a queued request has waited too long to be worth serving: past its
/// own deadline, or past the router's maximum wait.
inline bool wait_expired(int64_t enqueued_ms, int64_t deadline_ms, int64_t now_ms,
                         int64_t max_wait_ms) {
  return now_ms >= deadline_ms || now_ms - enqueued_ms >= max_wait_ms;
}

} // namespace troupe::policy
