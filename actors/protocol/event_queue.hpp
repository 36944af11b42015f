#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace troupe {

/// Who delivers an event: the node's ingress, through the function's router.
/// Contract: the answer is the function's result (which may be its own
/// error), or a caf::error of errc naming the platform's refusal or failure.
using async_invoker_actor = caf::typed_actor<
    caf::replies_to<invoke_atom, std::string /*function*/, invocation>::with<invocation_result>>;

/// The durable queue of asynchronous invocations on an ingress node.
/// Contract: `enqueue` answers (with the event's id) only once the event is
/// on disk, so a 202 is never lost by a crash; events are delivered at least
/// once, through the node's ingress; a failed delivery is retried on the
/// async schedule (policy/async_retry.hpp) and an event that runs out of
/// retries or age becomes a dead letter, kept until it is re-driven or removed.
/// Refusals: errc::too_many_requests when the queue holds its maximum,
/// errc::storage_failed when the write failed (nothing was queued).
using event_queue_actor = caf::typed_actor<
    caf::replies_to<enqueue_atom, async_event>::with<std::string>,
    /// Dead letters, of one function or ("") all, at most `max_items`, oldest first.
    caf::replies_to<dead_atom, std::string, int32_t>::with<std::vector<async_event>>,
    /// Queues a dead letter again as a new event (its age starts again); false: no such letter.
    caf::replies_to<redrive_atom, std::string>::with<bool>,
    /// Forgets a dead letter; false: no such letter.
    caf::replies_to<remove_atom, std::string>::with<bool>,
    caf::replies_to<stats_atom>::with<event_queue_stats>>;

} // namespace troupe
