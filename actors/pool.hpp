#pragma once

#include "actors/policy/pool_sizing.hpp"
#include "actors/protocol/pool.hpp"
#include "runtime/sandbox.hpp"

#include <caf/fwd.hpp>

namespace troupe {

/// How a pool sizes and refills its stock.
struct pool_settings {
  policy::pool_bounds bounds; ///< stock between min and max, following demand
  double refill_per_s = 200;  ///< sandboxes prepared a second at most (smoothing)
};

/// Spawns a pool keeping sandboxes prepared (namespaces made, the Runtime API
/// socket bound, init waiting for its spec): at least `bounds.min`, more while
/// cold starts come fast, refilled through a token bucket so a burst does not
/// start every sandbox in the same instant.
pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts,
                      pool_settings settings);

} // namespace troupe
