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

/// Paces a host's template refills, one token bucket for all its pools.
/// Contract: `token` answers true once a token is taken for the caller,
/// callers served in the order they asked.
using refill_pacer_actor =
    caf::typed_actor<caf::replies_to<token_atom>::with<bool>, caf::reacts_to<refill_atom>>;

/// Makes templates, blocking (clone, cgroup moves that wait for RCU, an
/// interpreter's start): a detached actor, so that none of this holds a
/// scheduler thread. Contract: `make` answers a ready template or
/// errc::sandbox_failed naming why.
using template_maker_actor =
    caf::typed_actor<caf::replies_to<make_atom, runtime::sandbox_options>::with<sandbox_lease>>;

/// Claims templates for functions (sandbox::start), blocking for the round
/// trip to the sandbox's init, which under a burst waits for a CPU, and for
/// opening (the first time: creating) the function's log: a detached actor,
/// several of them side by side, so that claims overlap instead of queueing
/// behind each other in the host. Contract: `claim` answers the lease once the
/// runtime has its code and environment, or errc::sandbox_failed naming why
/// (the sandbox is then dead).
using template_claimer_actor = caf::typed_actor<
    caf::replies_to<claim_atom, sandbox_lease, runtime::sandbox_spec>::with<sandbox_lease>>;

} // namespace troupe
