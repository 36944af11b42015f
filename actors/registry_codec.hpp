#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace troupe {

/// Registry keys: one prefix per kind of record.
inline std::string function_key(std::string_view name) {
  return "fn/" + std::string{name};
}
/// A tenant's access key, by its id.
inline std::string access_key_key(std::string_view id) {
  return "ak/" + std::string{id};
}
inline std::string placement_key(std::string_view instance_id) {
  return "pl/" + std::string{instance_id};
}

/// Event queue keys: queued events, and those given up (dead letters).
inline std::string event_key(std::string_view id) {
  return "ev/" + std::string{id};
}
inline std::string dead_letter_key(std::string_view id) {
  return "dl/" + std::string{id};
}

/// Binary encodings of registry records (CAF's serializer behind a version byte).
std::string encode(caf::actor_system& sys, const function_config& x);
std::string encode(caf::actor_system& sys, const placement& x);
std::string encode(caf::actor_system& sys, const async_event& x);
std::string encode(caf::actor_system& sys, const access_key& x);
std::optional<function_config> decode_function(caf::actor_system& sys, std::string_view bytes);
std::optional<placement> decode_placement(caf::actor_system& sys, std::string_view bytes);
std::optional<async_event> decode_event(caf::actor_system& sys, std::string_view bytes);
std::optional<access_key> decode_access_key(caf::actor_system& sys, std::string_view bytes);

} // namespace troupe
