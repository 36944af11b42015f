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

/// Direct connections from this node to hosts. BASP carries a message between
/// two nodes over the node that introduced them unless they are connected
/// themselves: without this, every warm invocation from an ingress node would
/// pass through (and die with) the controller's node. Contract: `connect_to`
/// (host:port) answers true once this node has its own connection there,
/// false if it cannot have one now (messages then take the indirect way).
using peer_connector_actor =
    caf::typed_actor<caf::replies_to<connect_to_atom, std::string /*host:port*/>::with<bool>>;

} // namespace troupe
