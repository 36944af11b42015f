#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// The per-function router on an ingress node: the only place an invocation
/// is queued or retried. Contract: every `invoke` gets exactly one reply by
/// its deadline: a result, or an error naming why (errc::function_not_found,
/// too_many_requests when the bounded wait queue is full or the wait too long,
/// no_capacity, sandbox_failed, deadline_exceeded).
using router_actor =
    caf::typed_actor<caf::replies_to<invoke_atom, invocation>::with<invocation_result>,
                     caf::reacts_to<reclaim_atom>>;

} // namespace troupe
