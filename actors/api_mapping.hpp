#pragma once

#include "actors/protocol/messages.hpp"
#include "net/lambda_api.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace troupe {

/// The Lambda-shaped refusal for a platform error: errc codes map to their
/// documented status and type; CAF's own errors (timeouts, lost actors) to 5xx.
net::api_error to_api_error(const caf::error& err);

/// The HTTP response of the Invoke API for a function's answer.
net::http_response invoke_response(const invocation_result& res, const std::string& request_id);

} // namespace troupe
