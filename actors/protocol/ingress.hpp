#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// The HTTP front of an ingress node. Contract: every exchange's responder is
/// called exactly once, with a Lambda-shaped answer; nothing on the HTTP
/// threads waits for an actor.
using ingress_actor = caf::typed_actor<caf::reacts_to<http_atom, http_exchange>>;

} // namespace troupe
