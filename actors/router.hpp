#pragma once

#include "actors/protocol/router.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace troupe {

/// Limits of one function's router.
struct router_settings {
  int32_t max_instances = 32;
  int32_t max_queue = 64;
  int64_t max_wait_ms = 10'000;
  int64_t keep_alive_ms = 300'000;
};

/// Spawns the router of one function, whose configuration the caller looked up.
/// It lives until its owner (the ingress) sends it an exit.
router_actor spawn_router(caf::actor_system& sys, function_config cfg, router_settings settings,
                          scheduler_actor scheduler);

} // namespace troupe
