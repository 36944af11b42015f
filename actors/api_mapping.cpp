#include "actors/api_mapping.hpp"

#include "actors/protocol/errc.hpp"
#include "net/base64.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>

namespace troupe {

namespace {

net::api_error from_errc(errc code, std::string message) {
  switch (code) {
  case errc::function_not_found:
    return {404, "ResourceNotFoundException", std::move(message)};
  case errc::function_exists:
    return {409, "ResourceConflictException", std::move(message)};
  case errc::invalid_parameter:
    return {400, "InvalidParameterValueException", std::move(message)};
  case errc::too_many_requests:
    return {429, "TooManyRequestsException", std::move(message),
            "ConcurrentInvocationLimitExceeded"};
  case errc::rate_limited:
    return {429, "TooManyRequestsException", std::move(message), "CallerRateLimitExceeded"};
  case errc::reserved_limit:
    return {429, "TooManyRequestsException", std::move(message),
            "ReservedFunctionConcurrentInvocationLimitExceeded"};
  case errc::unknown_key:
    return {403, "UnrecognizedClientException", std::move(message)};
  case errc::revision_mismatch:
    return {412, "PreconditionFailedException", std::move(message)};
  case errc::overloaded:
  case errc::no_capacity:
  case errc::shutting_down:
  case errc::control_plane_down:
    return {503, "ServiceException", std::move(message)};
  case errc::deadline_exceeded:
    return {504, "ServiceException", std::move(message)};
  case errc::host_lost:
    return {502, "ServiceException", std::move(message)};
  case errc::sandbox_failed:
  case errc::instance_lost:
  case errc::storage_failed:
    break;
  }
  return {500, "ServiceException", std::move(message)};
}

} // namespace

net::api_error to_api_error(const caf::error& err) {
  if (err.category() == caf::atom("troupe"))
    return from_errc(static_cast<errc>(err.code()), error_message(err));
  if (err == caf::sec::request_timeout)
    return {504, "ServiceException", "the request timed out inside the platform"};
  return {500, "ServiceException", "internal error: " + caf::to_string(err)};
}

net::http_response invoke_response(const invocation_result& res, const std::string& request_id) {
  auto r = net::json_response(200, res.payload);
  r.set("X-Amz-Executed-Version", res.version);
  r.set("x-amzn-RequestId", request_id);
  if (res.function_error)
    r.set("X-Amz-Function-Error", "Unhandled");
  if (!res.log_tail.empty())
    r.set("X-Amz-Log-Result", net::base64_encode(res.log_tail));
  return r;
}

} // namespace troupe
