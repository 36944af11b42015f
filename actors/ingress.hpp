#pragma once

#include "actors/policy/admission.hpp"
#include "actors/protocol/controller.hpp"
#include "actors/protocol/ingress.hpp"
#include "actors/protocol/scheduler.hpp"
#include "actors/router.hpp"

#include <caf/fwd.hpp>

namespace troupe {

/// What the ingress enforces and how it names things.
struct ingress_settings {
  size_t max_in_flight = 1000;
  size_t max_sync_payload = 6 * 1024 * 1024; ///< Lambda's synchronous invoke limit
  size_t max_async_payload = 256 * 1024;     ///< Lambda's asynchronous invoke limit
  std::string region = "local";
  /// Development only: no request is authenticated, all are anonymous_tenant's
  /// (with operator access). Otherwise every request must carry a valid AWS
  /// Signature Version 4 by a key the controller knows.
  bool anonymous = false;
  std::string anonymous_tenant = "default";
  int64_t key_cache_ms = 60'000; ///< how long a looked-up key is trusted
  router_settings routers;
  policy::admission_limits tenants; ///< each tenant's, on this node
};

/// Spawns the ingress: routes HTTP exchanges to the controller (management
/// API) and to one router per function (invocations), which it creates on
/// demand. On a node without the controller, the control plane's actors come
/// with `join`, and routers connect to hosts directly through `connector`.
ingress_actor spawn_ingress(caf::actor_system& sys, ingress_settings settings,
                            controller_actor controller, scheduler_actor scheduler,
                            peer_connector_actor connector = {});

} // namespace troupe
