#pragma once

#include "actors/protocol/messages.hpp"
#include "runtime/sandbox.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// Pre-started sandboxes (templates) of one (runtime family, memory size) on a
/// host. Contract: `acquire` answers a template that passed its health check
/// and is still alive: from stock when there is one (a hit), else the next one
/// made (a miss), or errc::sandbox_failed when making it failed. Stock is
/// refilled towards the pool's target size; `stats` tells what it did.
using pool_actor =
    caf::typed_actor<caf::replies_to<acquire_atom>::with<sandbox_lease>,
                     caf::replies_to<stats_atom>::with<pool_stats>, caf::reacts_to<refill_atom>>;

/// Makes templates, blocking (clone, cgroup moves that wait for RCU, an
/// interpreter's start): a detached actor, so that none of this holds a
/// scheduler thread. Contract: `make` answers a ready template or
/// errc::sandbox_failed naming why.
using template_maker_actor =
    caf::typed_actor<caf::replies_to<make_atom, runtime::sandbox_options>::with<sandbox_lease>>;

} // namespace troupe
