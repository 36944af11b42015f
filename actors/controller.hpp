#pragma once

#include "actors/protocol/controller.hpp"
#include "actors/protocol/scheduler.hpp"

#include "storage/archive.hpp"

#include <caf/fwd.hpp>

#include <filesystem>
#include <vector>

namespace troupe::storage {
class kv_store;
class package_store;
} // namespace troupe::storage

namespace troupe {

/// How much a tenant may reserve.
struct controller_settings {
  /// Instances of one tenant across the cluster (0: no limit, and then
  /// reservations are bounded only by hosts' room).
  int32_t tenant_instances = 0;
  /// Of those, what reservations must leave to the tenant's other functions.
  int32_t unreserved_min = 0;
  /// Access keys written at start (from the node's tenants file): a key of
  /// the same id is replaced.
  std::vector<access_key> bootstrap_keys;
  /// What an uploaded archive may be (refused with invalid_parameter otherwise).
  storage::archive_limits limits{uint64_t{50} << 20, uint64_t{250} << 20, 20'000};
  /// The node's package agent over the origin store, which hosts read from.
  package_actor origin;
  /// Where earlier releases kept archives (`<hex>.archive`): functions
  /// registered then get their package built from there at start.
  std::filesystem::path legacy_code;
};

/// Spawns the controller over the node's registry and code store (both must
/// outlive it). It reloads nothing eagerly: every lookup reads the store
/// (at start it only moves records of an older key layout, and writes the
/// bootstrap keys; a failure there is thrown, so the node does not start). It
/// tells `scheduler` the reserved concurrency of every function that has one,
/// now and whenever it changes.
controller_actor spawn_controller(caf::actor_system& sys, storage::kv_store& store,
                                  storage::package_store& packages, controller_settings settings,
                                  scheduler_actor scheduler);

} // namespace troupe
