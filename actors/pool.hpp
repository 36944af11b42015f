#pragma once

#include "actors/policy/pool_sizing.hpp"
#include "actors/protocol/pool.hpp"
#include "runtime/sandbox.hpp"

#include <caf/fwd.hpp>

#include <vector>

namespace troupe {

/// How a pool sizes and refills its stock.
struct pool_settings {
  policy::pool_bounds bounds; ///< stock between min and max, following demand
  double refill_per_s = 200;  ///< templates made a second at most for refills (smoothing)
};

/// Spawns a detached template maker.
template_maker_actor spawn_template_maker(caf::actor_system& sys);

/// Spawns a detached template claimer.
template_claimer_actor spawn_template_claimer(caf::actor_system& sys);

/// Spawns a pool keeping templates of `opts` ready: at least `bounds.min`, more
/// while cold starts come fast, made by `makers` (in turn) with refills paced
/// through a token bucket so a burst does not start every sandbox in the same
/// instant. A miss asks for a template at once, outside the bucket.
pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts, pool_settings settings,
                      std::vector<template_maker_actor> makers);

} // namespace troupe
