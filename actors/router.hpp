#pragma once

#include "actors/protocol/controller.hpp"
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

/// Spawns the router of `function`; it looks the function up at the controller
/// first and ends (failing what it queued) when the function does not exist.
router_actor spawn_router(caf::actor_system& sys, std::string function, router_settings settings,
                          controller_actor controller, scheduler_actor scheduler);

} // namespace troupe
