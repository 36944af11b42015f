#pragma once

#include "actors/protocol/controller.hpp"
#include "actors/protocol/packages.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace troupe::storage {
class package_store;
struct package_fs_stats;
} // namespace troupe::storage

namespace troupe {

/// A node's package agent as its own host sees it: the package_actor other
/// nodes read from, plus `prepare`, which makes a package usable here and
/// answers the directory an instance mounts at /var/task (the package's
/// directory in the node's FUSE view, or, where FUSE is unavailable, a tree
/// extracted under the node's data directory). A prepared package is pinned
/// once per answer (the store never evicts it) until the caller unpins it;
/// a fetch that fails answers sandbox_failed naming why. `join` gives it the
/// controller it fetches from and reports its holdings to.
using package_agent_actor = package_actor::extend<
    caf::replies_to<prepare_atom, std::string /*digest hex*/>::with<std::string /*dir*/>,
    caf::reacts_to<join_atom, controller_actor>>;

struct package_settings {
  std::string host_id;         ///< "" on a node without the host role
  std::filesystem::path mount; ///< where the FUSE view is mounted (host only)
  std::filesystem::path trees; ///< where packages are extracted without FUSE
  bool fuse = true;            ///< false: always extract (as if /dev/fuse were missing)
  std::chrono::milliseconds peer_timeout{2000};
  std::chrono::milliseconds origin_timeout{15000};
  int uploads_per_peer = 4; ///< this host's chunk fetches in flight to one peer, at most
};

/// A node's code packages at work: the store (the origin copy on the
/// controller's node, a size-bound cache on a host), the cache that fills
/// it chunk by chunk from peers and the origin, the FUSE view over it, and
/// the agent actor. Contract: stop() (or the destructor) fails every fetch
/// still waiting, so no reader blocks, then unmounts; call it before the
/// actor system ends. The store must outlive this.
class package_service {
public:
  package_service(caf::actor_system& sys, storage::package_store& store, package_settings cfg);
  ~package_service();
  package_service(const package_service&) = delete;
  package_service& operator=(const package_service&) = delete;

  package_agent_actor agent() const;
  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe
