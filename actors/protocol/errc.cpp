#include "actors/protocol/errc.hpp"

#include <caf/message.hpp>

namespace troupe {

const char* to_string(errc x) {
  switch (x) {
  case errc::function_not_found:
    return "function_not_found";
  case errc::function_exists:
    return "function_exists";
  case errc::invalid_parameter:
    return "invalid_parameter";
  case errc::too_many_requests:
    return "too_many_requests";
  case errc::overloaded:
    return "overloaded";
  case errc::no_capacity:
    return "no_capacity";
  case errc::sandbox_failed:
    return "sandbox_failed";
  case errc::instance_lost:
    return "instance_lost";
  case errc::host_lost:
    return "host_lost";
  case errc::storage_failed:
    return "storage_failed";
  case errc::deadline_exceeded:
    return "deadline_exceeded";
  case errc::shutting_down:
    return "shutting_down";
  case errc::control_plane_down:
    return "control_plane_down";
  case errc::rate_limited:
    return "rate_limited";
  case errc::reserved_limit:
    return "reserved_limit";
  case errc::unknown_key:
    return "unknown_key";
  case errc::revision_mismatch:
    return "revision_mismatch";
  }
  return "unknown";
}

bool is_throttle(const caf::error& err) {
  return err == errc::too_many_requests || err == errc::rate_limited || err == errc::reserved_limit;
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("troupe"),
                    caf::make_message(std::move(message))};
}

std::string error_message(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

} // namespace troupe
