#pragma once

#include "actors/protocol/scheduler.hpp"

#include <caf/fwd.hpp>

namespace troupe::storage {
class kv_store;
}

namespace troupe {

/// Spawns the scheduler. Placements left in `store` by an earlier run of this
/// node are marked lost at start (their processes died with that run).
scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::kv_store& store);

} // namespace troupe
