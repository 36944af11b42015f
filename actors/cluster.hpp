#pragma once

#include "actors/host.hpp"
#include "actors/protocol/cluster.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

/// Spawns the controller node's front door (published on the cluster port).
cluster_actor spawn_cluster_door(caf::actor_system& sys, controller_actor controller,
                                 scheduler_actor scheduler);

/// Where and how a node reaches the controller node.
struct join_settings {
  std::string node;  ///< this node's name, for the controller's log
  std::string host;  ///< the controller node's cluster address ...
  uint16_t port = 0; ///< ... and port
  bool tls = true;   ///< through caf_openssl (mutual certificates), else plain BASP
};

/// Spawns the actor that joins this node to the cluster: it connects to the
/// controller node's door, hands the control plane's actors to `members` (the
/// node's host, which registers, and its ingress) as `join`, monitors the
/// door, and connects again, with backoff (0.1 s doubling to 2 s), whenever
/// the connection is lost or refused.
caf::actor spawn_joiner(caf::actor_system& sys, join_settings settings,
                        std::vector<caf::actor> members);

/// Spawns this node's peer connector (see peer_connector_actor), connecting
/// through caf_openssl when `tls` is set.
peer_connector_actor spawn_peer_connector(caf::actor_system& sys, bool tls);

} // namespace troupe
