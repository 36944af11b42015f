#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

namespace troupe {

/// One function instance: a sandboxed process running the function's runtime.
/// Contract: takes one invocation at a time (Lambda's per-instance concurrency
/// of 1) and answers each exactly once: the function's result, a function
/// error (its own error, its timeout, its crash: then the instance ends), or
/// errc::instance_lost when it is busy or ending and never delivered the event
/// (safe to retry elsewhere). It ends itself when its router goes down.
/// `drain`: it answers the request in hand, refuses new ones (instance_lost),
/// and ends once idle. `status` answers its state (idle, busy, draining) and
/// invocations so far (the rest of instance_status is its host's to fill).
using instance_actor =
    caf::typed_actor<caf::replies_to<invoke_atom, invocation>::with<invocation_result>,
                     caf::reacts_to<drain_atom>,
                     caf::replies_to<status_atom>::with<instance_status>>;

} // namespace troupe
