#include "actors/registry_codec.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <vector>

namespace troupe {

namespace {

/// 2: function configurations carry their tenant, placements their slots,
/// host endpoint and tenant. Functions of version 1 are still read (as the
/// default tenant's); placements of version 1 belong to a run that is gone.
/// 3 (functions only): their reserved concurrency; version 2 is still read.
/// 4 (functions): their EventInvokeConfig; 3 (events): the same, per event.
/// 5 (functions): their version, and $LATEST's last published version.
/// 6 (functions): their code package; version 5 is read with none (the
/// controller builds it from the archive that node kept, at start).
constexpr char format_version = 2;
constexpr char function_version = 6;
constexpr char alias_version = 1;
constexpr char url_version = 1;
constexpr char event_version = 3;
constexpr char access_key_version = 1;
constexpr char egress_version = 1;

/// A function configuration as version 5 wrote it: without its package.
struct function_config_v5 {
  function_config x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config_v5& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id, x.tenant, x.reserved_concurrency, x.async_max_retries, x.async_max_age_s,
           x.version, x.last_version);
}

/// A function configuration as version 4 wrote it: always $LATEST, none published.
struct function_config_v4 {
  function_config x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config_v4& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id, x.tenant, x.reserved_concurrency, x.async_max_retries, x.async_max_age_s);
}

/// A function configuration as version 3 wrote it: without its EventInvokeConfig.
struct function_config_v3 {
  function_config x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config_v3& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id, x.tenant, x.reserved_concurrency);
}

/// An event as version 2 wrote it: without its function's EventInvokeConfig.
struct async_event_v2 {
  async_event x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, async_event_v2& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("async_event"), x.id, x.function, x.payload, x.enqueued_ms,
           x.attempts, x.function_error_retries, x.next_ms, x.last_error, x.dead_reason, x.dead_ms);
}

/// A function configuration as version 1 wrote it: without its tenant.
struct function_config_v1 {
  function_config x;
};

/// A function configuration as version 2 wrote it: without its reserved concurrency.
struct function_config_v2 {
  function_config x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config_v2& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id, x.tenant);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config_v1& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id);
}

template <class T>
std::string encode_record(caf::actor_system& sys, const T& x, char version = format_version) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = x;
  if (auto err = sink(copy))
    throw std::runtime_error("cannot encode registry record: " + sys.render(err));
  std::string out(1, version);
  out.append(buf.data(), buf.size());
  return out;
}

template <class T>
std::optional<T> decode_record(caf::actor_system& sys, std::string_view bytes,
                               char version = format_version) {
  if (bytes.empty() || bytes[0] != version)
    return std::nullopt;
  T x;
  caf::binary_deserializer source{sys, bytes.data() + 1, bytes.size() - 1};
  if (source(x))
    return std::nullopt;
  return x;
}

} // namespace

std::string encode(caf::actor_system& sys, const function_config& x) {
  return encode_record(sys, x, function_version);
}

std::string encode(caf::actor_system& sys, const placement& x) {
  return encode_record(sys, x);
}

std::string encode(caf::actor_system& sys, const async_event& x) {
  return encode_record(sys, x, event_version);
}

std::string encode(caf::actor_system& sys, const access_key& x) {
  return encode_record(sys, x, access_key_version);
}

std::string encode(caf::actor_system& sys, const alias_config& x) {
  return encode_record(sys, x, alias_version);
}

std::string encode(caf::actor_system& sys, const url_config& x) {
  return encode_record(sys, x, url_version);
}

std::optional<url_config> decode_url(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<url_config>(sys, bytes, url_version);
}

std::optional<alias_config> decode_alias(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<alias_config>(sys, bytes, alias_version);
}

std::optional<access_key> decode_access_key(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<access_key>(sys, bytes, access_key_version);
}

std::string encode(caf::actor_system& sys, const egress_config& x) {
  return encode_record(sys, x, egress_version);
}

std::optional<egress_config> decode_egress(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<egress_config>(sys, bytes, egress_version);
}

std::optional<function_config> decode_function(caf::actor_system& sys, std::string_view bytes) {
  if (auto old = decode_record<function_config_v1>(sys, bytes, 1))
    return std::move(old->x);
  if (auto old = decode_record<function_config_v2>(sys, bytes, 2))
    return std::move(old->x);
  if (auto old = decode_record<function_config_v3>(sys, bytes, 3))
    return std::move(old->x);
  if (auto old = decode_record<function_config_v4>(sys, bytes, 4))
    return std::move(old->x);
  if (auto old = decode_record<function_config_v5>(sys, bytes, 5))
    return std::move(old->x);
  return decode_record<function_config>(sys, bytes, function_version);
}

std::optional<placement> decode_placement(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<placement>(sys, bytes);
}

std::optional<async_event> decode_event(caf::actor_system& sys, std::string_view bytes) {
  if (auto old = decode_record<async_event_v2>(sys, bytes, 2))
    return std::move(old->x);
  return decode_record<async_event>(sys, bytes, event_version);
}

} // namespace troupe
