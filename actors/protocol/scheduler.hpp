#pragma once

#include "actors/protocol/host.hpp"

#include <caf/typed_actor.hpp>

#include <vector>

namespace troupe {

/// The placement decision of the cluster: which host gets a new instance.
/// Contract: `place` reserves the instance's slots on the chosen host and
/// records the placement durably before answering (errc::no_capacity when no
/// host fits; too_many_requests or reserved_limit when the function or its
/// tenant is at its limit); it places on the hosts named in its list (a
/// router's hosts whose breakers are open or that just failed it) only when
/// no other fits. `state` records a transition; `release` returns the slots
/// and removes the record. Hosts join with `host_up` (again after a
/// reconnect: the newer handle replaces the older) and leave when they go
/// down (the scheduler monitors them); `hosts` lists them; `drain` (host id,
/// on/off) stops or resumes placements on a host and tells it, answering
/// false for an unknown id. `reserve` (from the controller) sets a function's
/// reserved concurrency (-1: none): its instances are capped at it, and the
/// tenant's other functions share what the tenant's limit leaves. Routers
/// report each launch's `outcome` on a host (true: it started; false: a
/// platform failure): a breaker per host, over every function's launches,
/// keeps placements away from a host that keeps failing them. `logs` gathers
/// a function's latest invocation logs from every host (those that answer
/// within 5 s), the hosts that have none left out. `instances` lists every
/// host's instances (of the hosts that answer within 5 s).
using scheduler_actor = caf::typed_actor<
    caf::replies_to<place_atom, function_config,
                    std::vector<std::string> /*avoid*/>::with<placement, host_actor>,
    caf::reacts_to<state_atom, std::string /*instance id*/, std::string /*state*/>,
    caf::reacts_to<release_atom, std::string /*instance id*/>,
    caf::reacts_to<host_up_atom, host_info, host_actor>,
    caf::replies_to<hosts_atom>::with<std::vector<host_status>>,
    caf::replies_to<drain_atom, std::string /*host id*/, bool>::with<bool>,
    caf::reacts_to<reserve_atom, std::string /*tenant*/, std::string /*function*/, int32_t>,
    caf::reacts_to<outcome_atom, std::string /*host id*/, bool>,
    caf::replies_to<logs_atom, std::string /*function id*/,
                    int32_t /*max bytes a host*/>::with<std::vector<host_log>>,
    caf::replies_to<instances_atom>::with<std::vector<instance_status>>>;

} // namespace troupe
