#pragma once

#include "actors/protocol/controller.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// The control plane's front door, published by the controller node on its
/// cluster port (TLS with mutual certificate checks unless plaintext is set
/// explicitly). Contract: `join` answers the actors a joining node talks to;
/// a node monitors the door and joins again when it comes back.
using cluster_actor = caf::typed_actor<
    caf::replies_to<join_atom, std::string /*node name*/>::with<controller_actor, scheduler_actor>>;

} // namespace troupe
