#pragma once

#include "actors/protocol/controller.hpp"
#include "net/egress_proxy.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

namespace troupe {

using gw_open_atom = caf::atom_constant<caf::atom("gw_open")>;
using gw_opened_atom = caf::atom_constant<caf::atom("gw_opened")>;
using gw_data_atom = caf::atom_constant<caf::atom("gw_data")>;
using gw_ack_atom = caf::atom_constant<caf::atom("gw_ack")>;
using gw_close_atom = caf::atom_constant<caf::atom("gw_close")>;

/// A vpc_gateway: opens the real connections of instances' streams. `open`
/// asks the controller for the tenant's egress rules (so a change applies to
/// the next connection), resolves the host, and connects to the first address
/// the rules allow; it answers `peer` with (gw_opened, "") or (gw_opened,
/// why not: "refused: ..." when no rule allows it). Then bytes go both ways
/// as (gw_data, bytes) and are acknowledged with (gw_ack, n) once written
/// out, at most net::stream_window unacknowledged per direction; either side
/// ends with gw_close ((gw_close, reason) to the peer). A peer that goes
/// away closes its connection.
using gateway_actor =
    caf::typed_actor<caf::reacts_to<gw_open_atom, uint64_t /*connection*/, std::string /*tenant*/,
                                    std::string /*host*/, uint16_t /*port*/, caf::actor /*peer*/>,
                     caf::reacts_to<gw_data_atom, uint64_t, std::string>,
                     caf::reacts_to<gw_ack_atom, uint64_t, uint64_t>,
                     caf::reacts_to<gw_close_atom, uint64_t>>;

/// Spawns a gateway whose sockets run on `io` (which must outlive it).
gateway_actor spawn_gateway(caf::actor_system& sys, net::io_runtime& io,
                            controller_actor controller);

/// The egress proxy's paths for one tenant's instance: each connection a
/// stream through `gateway`.
net::egress_opener gateway_opener(caf::actor_system& sys, gateway_actor gateway,
                                  std::string tenant);

} // namespace troupe
