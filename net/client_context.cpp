#include "net/client_context.hpp"

#include "net/base64.hpp"

namespace troupe::net {

std::optional<api_error> decode_client_context(std::string_view header, std::string& json) {
  if (header.empty())
    return std::nullopt;
  if (header.size() > max_client_context_bytes)
    return api_error{400, "InvalidRequestContentException",
                     "Client context must be at most " + std::to_string(max_client_context_bytes) +
                         " bytes of base64-encoded data"};
  auto decoded = base64_decode(header);
  auto first = decoded ? decoded->find_first_not_of(" \t\r\n") : std::string::npos;
  if (first == std::string::npos || (*decoded)[first] != '{' || !valid_json(*decoded))
    return api_error{400, "InvalidRequestContentException",
                     "Client context must be a valid Base64-encoded JSON object."};
  json = std::move(*decoded);
  return std::nullopt;
}

} // namespace troupe::net
