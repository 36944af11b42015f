#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace troupe {

/// Why Troupe refused or failed a request. Crosses the network inside caf::error
/// (category "troupe"); the ingress maps each to an HTTP status and Lambda error type.
enum class errc : uint8_t {
  function_not_found = 1, ///< 404 ResourceNotFoundException
  function_exists,        ///< 409 ResourceConflictException
  invalid_parameter,      ///< 400 InvalidParameterValueException
  too_many_requests,      ///< 429 TooManyRequestsException: a limit of the function or tenant
  overloaded,             ///< 503 ServiceException: the platform itself is full
  no_capacity,            ///< no host has room for the instance (503)
  sandbox_failed,         ///< a sandbox could not be started (502)
  instance_lost,          ///< the instance vanished before the request reached it (retried)
  host_lost,          ///< the instance's host was lost while it ran the request (502: not retried)
  storage_failed,     ///< the registry could not be written (500)
  deadline_exceeded,  ///< the request's deadline passed before an answer (504)
  shutting_down,      ///< the node is stopping (503)
  control_plane_down, ///< no controller reachable: deploys and cold starts wait for it (503)
  rate_limited,       ///< 429: the tenant's request rate is used up
  reserved_limit,     ///< 429: the function's reserved concurrency is used up (or 0)
  unknown_key,        ///< 403 UnrecognizedClientException: no such access key
  revision_mismatch,  ///< 412 PreconditionFailedException: the function changed meanwhile
};

/// Whether `err` is one of the 429 refusals (a limit, not a failure).
bool is_throttle(const caf::error& err);

const char* to_string(errc x);

/// A caf::error of category "troupe" whose context carries `message`.
caf::error make_error(errc code, std::string message);

/// The message inside an error made by make_error (or CAF's rendering of others).
std::string error_message(const caf::error& err);

} // namespace troupe

CAF_ERROR_CODE_ENUM(troupe::errc, "troupe")
