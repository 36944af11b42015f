#pragma once

#include "actors/policy/pool_sizing.hpp"
#include "actors/protocol/pool.hpp"
#include "runtime/sandbox.hpp"

#include <caf/fwd.hpp>

#include <vector>

namespace troupe {

/// Spawns a host's refill pacer: `per_s` tokens a second, `burst` saved up.
refill_pacer_actor spawn_refill_pacer(caf::actor_system& sys, double per_s, double burst);

/// Spawns a detached template maker.
template_maker_actor spawn_template_maker(caf::actor_system& sys);

/// Spawns a detached template claimer.
template_claimer_actor spawn_template_claimer(caf::actor_system& sys);

/// Spawns a pool keeping templates of `opts` ready: at least `bounds.min`, more
/// while cold starts come fast (at most `bounds.max`), made by `makers` (in turn), each refill
/// waiting for a token of the host's `pacer` so that a burst does not start
/// every sandbox in the same instant. A miss asks for a template at once,
/// without a token. Its metrics carry the labels runtime=`family` and memory_mb.
pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts,
                      policy::pool_bounds bounds, std::vector<template_maker_actor> makers,
                      refill_pacer_actor pacer, std::string family = "");

} // namespace troupe
