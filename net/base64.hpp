#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace troupe::net {

/// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view data);

/// Decodes standard base64; ignores ASCII whitespace; nullopt on any other
/// invalid input (bad character, bad padding, truncated quantum).
std::optional<std::string> base64_decode(std::string_view text);

} // namespace troupe::net
