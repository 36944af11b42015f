#pragma once

#include "actors/egress.hpp"
#include "actors/package_agent.hpp"
#include "actors/protocol/controller.hpp"
#include "actors/protocol/host.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/fwd.hpp>

#include <string>
#include <vector>

namespace troupe::storage {
class package_store;
class log_store;
} // namespace troupe::storage
namespace troupe::net {
class io_runtime;
}

namespace troupe {

/// What a host is made of; the referenced objects must outlive the actor.
struct host_settings {
  std::string id;
  std::string zone = "local";
  int32_t memory_mb = 0;
  int32_t cpus = 0;
  size_t pool_min = 2;
  size_t pool_max = 32;
  double pool_refill_per_s = 200;
  size_t template_makers =
      4;               ///< threads making templates in parallel (mostly waiting on the kernel)
  size_t claimers = 8; ///< threads claiming templates side by side
  /// Instances it starts a second at most, and at once: a burst of launches
  /// is spread out instead of starting every sandbox in the same millisecond.
  double launch_rate = 1000;
  double launch_burst = 200;
  /// Runtime families whose 128 MB pools are made (and filled) at start.
  std::vector<std::string> warm_runtimes{"provided", "python3", "nodejs"};
  uint32_t uid_base = 0;  ///< each sandbox runs as its own uid from here ...
  uint32_t uid_count = 0; ///< ... (0: all as nobody)
  int32_t tmp_mb = 512;
  uint32_t pids_max = 1024;
  std::string init_path;
  std::string runtimes_dir;
  std::string run_dir; ///< what sandbox roots are mounted over (in their own namespaces)
  std::string region;
  std::string endpoint; ///< host:port of its direct connections, once published ("": none)
  storage::package_store* packages = nullptr; ///< the node's packages (listed, unpinned here)
  package_agent_actor package_agent;          ///< makes them usable here (prepare)
  storage::log_store* logs = nullptr;         ///< its instances' invocation logs, by function
  net::io_runtime* io = nullptr;
  /// Picks the gateways instances' outbound connections go through (none:
  /// instances reach nothing but their own loopback); told of every join.
  egress_balancer_actor egress;
  int egress_open_timeout_ms = 8000; ///< for a gateway to open a connection, before the next
};

/// The host as its own node holds it: it also takes the control plane's actors
/// whenever the node (re)joins the cluster, and registers with that scheduler
/// (reporting the instances it runs); `endpoint` is the host:port where the
/// node published it for direct connections, reported from then on.
using host_node_actor =
    host_actor::extend<caf::reacts_to<join_atom, scheduler_actor, controller_actor>,
                       caf::reacts_to<endpoint_atom, std::string>>;

/// Spawns the host. With a scheduler (the controller on the same node), it is
/// registered (host_up) before this returns, so placements requested after
/// this call see it; without, it waits for `join`. A host reads the code
/// packages it lacks through its package agent, which it hands `controller`.
host_node_actor spawn_host(caf::actor_system& sys, host_settings settings,
                           scheduler_actor scheduler = {}, controller_actor controller = {});

} // namespace troupe
