#pragma once

#include "actors/policy/breaker.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/fwd.hpp>

#include <set>
#include <string>

namespace troupe::storage {
class kv_store;
}

namespace troupe {

/// The scheduler's limits.
struct scheduler_settings {
  /// Instances of one function across the cluster, however many ingress
  /// nodes' routers ask for them (more: errc::too_many_requests).
  int32_t max_instances_per_function = 32;
  /// How long placements of an earlier run wait for their host to register
  /// again and report them before they are marked lost.
  int64_t reconcile_grace_ms = 10'000;
  /// Tenants whose instances run on hosts of their own (the `dedicated`
  /// isolation mode); every other tenant is `shared`.
  std::set<std::string> dedicated_tenants;
  /// Instances of one tenant across the cluster (0: no limit). Functions with
  /// reserved concurrency keep theirs; the others share the rest.
  int32_t tenant_instances = 0;
  /// Of each host, over the launches of every function.
  policy::breaker_settings breaker;
};

/// Spawns the scheduler. Placements left in `store` by an earlier run are
/// reconciled with what hosts report when they register again: the ones a
/// host still runs are kept, the ones it does not (or whose host stays away
/// past the grace time) are marked lost, and instances a host runs without a
/// placement (orphans) are drained.
scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::kv_store& store,
                                scheduler_settings settings = {});

} // namespace troupe
