#pragma once

#include "actors/protocol/pool.hpp"
#include "runtime/sandbox.hpp"

#include <caf/fwd.hpp>

namespace troupe {

/// Spawns a pool keeping `target` sandboxes prepared (namespaces made, the
/// Runtime API socket bound, init waiting for its spec).
pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts, size_t target);

} // namespace troupe
