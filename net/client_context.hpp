#pragma once

#include "net/lambda_api.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace troupe::net {

/// The most an Invoke's X-Amz-Client-Context may hold, as sent (base64), as Lambda allows.
constexpr std::size_t max_client_context_bytes = 3583;

/// Reads an Invoke's X-Amz-Client-Context header: base64 of a JSON object, at
/// most max_client_context_bytes as sent. Sets `json` to the decoded object
/// ("" when the header is empty), or answers Lambda's refusal (400,
/// InvalidRequestContentException) and leaves `json` alone.
std::optional<api_error> decode_client_context(std::string_view header, std::string& json);

} // namespace troupe::net
