#pragma once

#include "actors/protocol/cluster.hpp"
#include "net/egress_proxy.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

using gw_open_atom = caf::atom_constant<caf::atom("gw_open")>;
using gw_opened_atom = caf::atom_constant<caf::atom("gw_opened")>;
using gw_data_atom = caf::atom_constant<caf::atom("gw_data")>;
using gw_ack_atom = caf::atom_constant<caf::atom("gw_ack")>;
using gw_close_atom = caf::atom_constant<caf::atom("gw_close")>;
using gw_timeout_atom = caf::atom_constant<caf::atom("gw_timeout")>;
using gw_refresh_atom = caf::atom_constant<caf::atom("gw_refresh")>;

/// A vpc_gateway: opens the real connections of instances' streams.
///
/// It registers with the controller (at `join`, again at every join) and
/// keeps every tenant's egress rules as the controller pushes them
/// (`egress`, answered true once applied), so a connection needs no round
/// trip to the controller and a change applies to the next one; it reads
/// them all again every 10 s (`gw_refresh`), in case a push was lost. With
/// the controller unreachable it goes on with the rules it has.
///
/// `open` checks the tenant's limit of concurrent connections through this
/// gateway, resolves the host and connects to the first address the rules
/// allow; it answers `peer` with (gw_opened, connection, "") or why not, as
/// text starting with "refused:" (no rule allows it), "limit:" (the tenant
/// has its most connections here), "unavailable:" (this gateway cannot open
/// any now) or naming the destination's failure. Then bytes go both ways as
/// (gw_data, connection, bytes), acknowledged with (gw_ack, connection, n)
/// once written out, at most net::stream_window unacknowledged per
/// direction; either side ends with gw_close ((gw_close, connection, reason)
/// to the peer). The gateway monitors each peer: a peer that goes away (its
/// host's node, say) closes its connections.
using gateway_actor =
    caf::typed_actor<caf::reacts_to<gw_open_atom, uint64_t /*connection*/, std::string /*tenant*/,
                                    std::string /*host*/, uint16_t /*port*/, caf::actor /*peer*/>,
                     caf::reacts_to<gw_data_atom, uint64_t, std::string>,
                     caf::reacts_to<gw_ack_atom, uint64_t, uint64_t>,
                     caf::reacts_to<gw_close_atom, uint64_t>,
                     caf::replies_to<egress_atom, egress_config>::with<bool>,
                     caf::reacts_to<join_atom, scheduler_actor, controller_actor>,
                     caf::reacts_to<endpoint_atom, std::string>, caf::reacts_to<gw_refresh_atom>>;

struct gateway_settings {
  std::string id;                    ///< its name, for hosts, logs and metrics
  int connect_timeout_ms = 5000;     ///< to a destination
  int idle_ms = 300'000;             ///< a connection without a byte either way this long closes
  int32_t tenant_connections = 1024; ///< per tenant, open through this gateway at once
};

/// Spawns a gateway whose sockets run on `io` (which must outlive it).
gateway_actor spawn_gateway(caf::actor_system& sys, net::io_runtime& io, gateway_settings settings);

/// A host's view of the gateways: it reads them from the controller (at
/// `join` and every second), connects to their nodes directly, and keeps a
/// breaker for each. `pick` answers the gateway a new connection should
/// use, leaving out those named in `tried`: of the gateways whose breaker
/// lets a call through, the one with the fewest of this host's connections
/// (ties taken in turn); if none, it answers after reading the list afresh
/// (unavailable if still none). Whoever picked reports the
/// attempt's `outcome` (0 worked, 1 the gateway failed, 2 neither: it was
/// full) and, when the connection through it ends, `gw_close`. A gateway
/// that goes is forgotten at once.
using egress_balancer_actor = caf::typed_actor<
    caf::replies_to<gw_pick_atom, std::vector<std::string> /*tried*/>::with<caf::actor,
                                                                            std::string>,
    caf::reacts_to<outcome_atom, std::string /*gateway*/, int32_t>,
    caf::reacts_to<gw_close_atom, std::string /*gateway*/>,
    caf::reacts_to<join_atom, scheduler_actor, controller_actor>, caf::reacts_to<gateways_atom>>;

/// Spawns a host's balancer; `controller` may be unset until a join, and
/// `connector` (unset: none) makes the direct connections.
egress_balancer_actor spawn_egress_balancer(caf::actor_system& sys, controller_actor controller,
                                            peer_connector_actor connector);

/// The egress proxy's paths for one tenant's instance: each connection a
/// stream through a gateway `balancer` picks, moving on to another when one
/// fails or does not answer within `open_timeout_ms`, before the connection
/// is open; once open, a gateway's failure ends only its connections.
net::egress_opener gateway_opener(caf::actor_system& sys, egress_balancer_actor balancer,
                                  std::string tenant, int open_timeout_ms);

} // namespace troupe
