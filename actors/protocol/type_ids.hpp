#pragma once

namespace caf {
class actor_system_config;
}

namespace troupe {

/// Registers every message type, actor handle type and the "troupe" error
/// category with CAF under portable names: the one place a message type is added.
void register_troupe_types(caf::actor_system_config& cfg);

} // namespace troupe
