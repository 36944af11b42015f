#pragma once

#include "actors/protocol/admin.hpp"
#include "actors/protocol/ingress.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace troupe {

/// Spawns the admin console's service (see admin_actor). `token` is the
/// cluster's admin token (not empty); `ingress` this node's, or none.
admin_actor spawn_admin(caf::actor_system& sys, std::string token, ingress_actor ingress);

/// Whether `given` is `expected`, in time that does not depend on where they
/// differ (a guessed token learns nothing from how fast it is refused).
bool same_token(const std::string& given, const std::string& expected);

} // namespace troupe
