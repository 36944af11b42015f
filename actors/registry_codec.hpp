#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/fwd.hpp>

#include <cstdio>

#include <optional>
#include <string>
#include <string_view>

namespace troupe {

/// Registry keys: one prefix per kind of record.
inline std::string function_key(std::string_view name) {
  return "fn/" + std::string{name};
}
/// A function's published versions (numbers zero-padded, so that they sort)
/// and its aliases, by its id.
inline std::string version_key(std::string_view id, int32_t number) {
  char buf[16];
  snprintf(buf, sizeof buf, "%010d", number);
  return "fv/" + std::string{id} + "/" + buf;
}
inline std::string versions_prefix(std::string_view id) {
  return "fv/" + std::string{id} + "/";
}
inline std::string alias_key(std::string_view id, std::string_view alias) {
  return "fa/" + std::string{id} + "/" + std::string{alias};
}
inline std::string aliases_prefix(std::string_view id) {
  return "fa/" + std::string{id} + "/";
}

/// A function URL by its url id, and which url id a function's qualifier has.
inline std::string url_key(std::string_view url_id) {
  return "fu/" + std::string{url_id};
}
inline std::string url_index_key(std::string_view id, std::string_view qualifier) {
  return "fq/" + std::string{id} + "/" + std::string{qualifier.empty() ? "$LATEST" : qualifier};
}
inline std::string url_index_prefix(std::string_view id) {
  return "fq/" + std::string{id} + "/";
}

/// A tenant's access key, by its id.
inline std::string access_key_key(std::string_view id) {
  return "ak/" + std::string{id};
}
inline std::string egress_key(std::string_view tenant) {
  return "eg/" + std::string{tenant};
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
std::string encode(caf::actor_system& sys, const egress_config& x);
std::string encode(caf::actor_system& sys, const alias_config& x);
std::string encode(caf::actor_system& sys, const url_config& x);
std::optional<function_config> decode_function(caf::actor_system& sys, std::string_view bytes);
std::optional<placement> decode_placement(caf::actor_system& sys, std::string_view bytes);
std::optional<async_event> decode_event(caf::actor_system& sys, std::string_view bytes);
std::optional<access_key> decode_access_key(caf::actor_system& sys, std::string_view bytes);
std::optional<egress_config> decode_egress(caf::actor_system& sys, std::string_view bytes);
std::optional<alias_config> decode_alias(caf::actor_system& sys, std::string_view bytes);
std::optional<url_config> decode_url(caf::actor_system& sys, std::string_view bytes);

} // namespace troupe
