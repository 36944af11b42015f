#pragma once

#include "actors/policy/async_retry.hpp"
#include "actors/protocol/event_queue.hpp"

#include <caf/fwd.hpp>

#include <cstddef>
#include <cstdint>

namespace troupe::storage {
class kv_store;
}

namespace troupe {

/// What the event queue holds and how it retries.
struct event_queue_settings {
  size_t max_events = 100'000; ///< queued at once; more get 429
  int32_t concurrency = 16;    ///< deliveries under way at once
  /// How long one delivery may take before it counts as a platform failure:
  /// past the ingress's own deadline (the longest function timeout and a wait).
  int64_t delivery_timeout_ms = 960'000;
  policy::async_retry_settings retry;
};

/// Spawns the event queue over `store` (records "ev/" queued, "dl/" dead
/// letters). Events left by an earlier run are delivered again: at least once.
event_queue_actor spawn_event_queue(caf::actor_system& sys, storage::kv_store& store,
                                    event_queue_settings settings, async_invoker_actor invoker);

} // namespace troupe
