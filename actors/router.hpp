#pragma once

#include "actors/policy/backoff.hpp"
#include "actors/policy/breaker.hpp"
#include "actors/protocol/cluster.hpp"
#include "actors/protocol/router.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include <string>

namespace troupe {

/// Limits of one function's router.
struct router_settings {
  int32_t max_instances = 32;
  int32_t max_queue = 64;
  int64_t max_wait_ms = 10'000;
  int64_t keep_alive_ms = 300'000;
  /// Retries are at most this fraction of requests (plus a few saved up).
  double retry_ratio = 0.1;
  /// Between attempts of one request, and between launches after a failed one.
  policy::backoff_settings backoff{10, 1'000};
  /// New instances a second at most, and at once: a burst of cold starts is
  /// spread out (Lambda scales a function by 1,000 instances in 10 s).
  double launch_rate = 100;
  double launch_burst = 32;
  /// Of each host, for this function: only platform failures count.
  policy::breaker_settings breaker;
};

/// The router as its ingress holds it: `join` hands it the scheduler to place
/// new instances with (again after the controller's node came back; a null
/// one while there is none: then cold starts are refused, warm ones go on).
/// `stats` tells what it has done and how its breakers stand; `drain` retires
/// it: it answers what it holds and what reaches it still, and ends once
/// nothing is left (with its instances).
using managed_router_actor = router_actor::extend<caf::reacts_to<join_atom, scheduler_actor>,
                                                  caf::replies_to<stats_atom>::with<router_stats>,
                                                  caf::reacts_to<drain_atom>>;

/// The refusal of an invocation its router has no room for: its wait queue
/// is full (from the router, or from the ingress past the router's credit).
caf::error queue_full(const std::string& function);

/// Instances a function's router keeps at most: its limit, or the function's
/// reserved concurrency when that is lower.
int32_t instance_cap(const router_settings& limits, const function_config& cfg);

/// Invocations a function's router holds at once (those its instances run
/// and its wait queue): the credit it grants the ingress.
inline int32_t router_capacity(const router_settings& limits, const function_config& cfg) {
  return instance_cap(limits, cfg) + limits.max_queue;
}

/// Spawns the router of one function, whose configuration the caller looked up.
/// It lives until its owner (the ingress) sends it an exit. With a connector,
/// it connects this node to a host directly before launching there.
managed_router_actor spawn_router(caf::actor_system& sys, function_config cfg,
                                  router_settings settings, scheduler_actor scheduler,
                                  peer_connector_actor connector = {});

} // namespace troupe
