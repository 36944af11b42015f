#pragma once

#include "actors/protocol/admin.hpp"
#include "actors/protocol/controller.hpp"
#include "actors/protocol/event_queue.hpp"
#include "actors/protocol/messages.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// The HTTP front of an ingress node. Contract: every exchange's responder is
/// called exactly once, with a Lambda-shaped answer; nothing on the HTTP
/// threads waits for an actor. `join` hands it the control plane's actors
/// (again after the controller's node came back); while it has none, what
/// needs them (deploys, lookups, cold starts) is refused with 503 at once.
/// `invoke` runs one invocation of the named function as an HTTP invoke
/// would (the event queue's deliveries); the queue itself arrives with
/// `join`, and until it has, asynchronous invocations are refused with 503.
/// `admin` runs an admin console's request (its token already checked by the
/// admin actor) as an HTTP request of an operator of its tenant would run.
using ingress_actor =
    caf::typed_actor<caf::reacts_to<http_atom, http_exchange>,
                     caf::reacts_to<join_atom, scheduler_actor, controller_actor>,
                     caf::replies_to<invoke_atom, std::string, invocation>::with<invocation_result>,
                     caf::reacts_to<join_atom, event_queue_actor>,
                     caf::replies_to<admin_atom, admin_request>::with<admin_reply>>;

} // namespace troupe
