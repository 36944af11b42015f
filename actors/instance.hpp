#pragma once

#include "actors/protocol/instance.hpp"
#include "actors/protocol/router.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <string>

namespace troupe::runtime {
class sandbox;
}
namespace troupe::net {
class io_runtime;
}
namespace troupe::storage {
class log_store;
}
namespace troupe::net::metrics {
class gauge;
}

namespace troupe {

/// Spawns the actor of a started sandbox (its runtime is running and will ask
/// for events). The instance serves `router` and ends when the router does.
/// Each invocation's log (its output between Lambda's START, END and REPORT
/// lines) goes to `logs` (if any) under the function's id.
instance_actor spawn_instance(caf::actor_system& sys, std::shared_ptr<runtime::sandbox> box,
                              function_config cfg, std::string function_arn, router_actor router,
                              net::io_runtime& io, storage::log_store* logs = nullptr);

/// The node's troupe_instances series of `state` (starting, idle, busy, draining).
net::metrics::gauge& instances_gauge(const std::string& state);

} // namespace troupe
