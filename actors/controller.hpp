#pragma once

#include "actors/protocol/controller.hpp"

#include <caf/fwd.hpp>

namespace troupe::storage {
class kv_store;
class code_store;
} // namespace troupe::storage

namespace troupe {

/// Spawns the controller over the node's registry and code store (both must
/// outlive it). It reloads nothing eagerly: every lookup reads the store.
controller_actor spawn_controller(caf::actor_system& sys, storage::kv_store& store,
                                  storage::code_store& code);

} // namespace troupe
