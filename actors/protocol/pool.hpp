#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// Pre-started sandboxes of one runtime family on a host. Contract: `acquire`
/// answers a prepared sandbox (from stock when there is one, else made on the
/// spot) or errc::sandbox_failed; stock is refilled after each hand-out, up to
/// the pool's target size.
using pool_actor = caf::typed_actor<caf::replies_to<acquire_atom>::with<sandbox_lease>,
                                    caf::reacts_to<refill_atom>>;

} // namespace troupe
