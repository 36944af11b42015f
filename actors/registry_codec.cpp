#include "actors/registry_codec.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <vector>

namespace troupe {

namespace {

constexpr char format_version = 1;

template <class T> std::string encode_record(caf::actor_system& sys, const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = x;
  if (auto err = sink(copy))
    throw std::runtime_error("cannot encode registry record: " + sys.render(err));
  std::string out(1, format_version);
  out.append(buf.data(), buf.size());
  return out;
}

template <class T> std::optional<T> decode_record(caf::actor_system& sys, std::string_view bytes) {
  if (bytes.empty() || bytes[0] != format_version)
    return std::nullopt;
  T x;
  caf::binary_deserializer source{sys, bytes.data() + 1, bytes.size() - 1};
  if (source(x))
    return std::nullopt;
  return x;
}

} // namespace

std::string encode(caf::actor_system& sys, const function_config& x) {
  return encode_record(sys, x);
}

std::string encode(caf::actor_system& sys, const placement& x) {
  return encode_record(sys, x);
}

std::optional<function_config> decode_function(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<function_config>(sys, bytes);
}

std::optional<placement> decode_placement(caf::actor_system& sys, std::string_view bytes) {
  return decode_record<placement>(sys, bytes);
}

} // namespace troupe
