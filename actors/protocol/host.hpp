#pragma once

#include "actors/protocol/instance.hpp"
#include "actors/protocol/router.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// A worker node's host actor: owns its capacity (128 MB slots), its pools and
/// its instances. Contract: `launch` answers a started instance (the runtime
/// process is running) or an error (no_capacity, sandbox_failed,
/// function_not_found when the code package is missing); slots are returned
/// when an instance ends, and the scheduler is told (release).
/// `drain` with true: it takes no launches (no_capacity) and drains its
/// instances (each finishes the request in hand, then ends); with false it
/// takes launches again. `orphan` names an instance the scheduler has no
/// placement for (found when the host registered again): it is drained.
/// `logs` answers the latest (at most max bytes, whole lines) of a
/// function's invocation logs on this host. `instances` lists its instances,
/// those starting too.
using host_actor =
    caf::typed_actor<caf::replies_to<launch_atom, std::string /*instance id*/, function_config,
                                     router_actor>::with<instance_actor>,
                     caf::reacts_to<drain_atom, bool>,
                     caf::reacts_to<orphan_atom, std::string /*instance id*/>,
                     caf::replies_to<logs_atom, std::string /*function id*/,
                                     int32_t /*max bytes*/>::with<std::string>,
                     caf::replies_to<instances_atom>::with<std::vector<instance_status>>>;

} // namespace troupe
