#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::net {

/// One HTTP header as received or to be sent; names compare case-insensitively.
struct http_header {
  std::string name;
  std::string value;
};

/// A complete HTTP/1.1 request, body included.
struct http_request {
  std::string method; ///< "GET", "POST", ... as sent
  std::string target; ///< path plus optional "?query", as sent
  std::vector<http_header> headers;
  std::string body;
  std::string remote_ip;
  uint16_t remote_port = 0; ///< the peer's TCP port: tells connections apart
  /// The body was over the server's limit and is not here (see http_limits::hand_over_oversized).
  bool body_too_large = false;

  /// The first header named `name` (case-insensitive), or "" when absent.
  std::string_view header(std::string_view name) const;
  /// The target without its query string.
  std::string_view path() const;
  /// The query string without the '?', or "".
  std::string_view query() const;
};

/// A complete HTTP/1.1 response. The server adds Content-Length and Connection.
struct http_response {
  int status = 200;
  std::vector<http_header> headers;
  std::string body;

  http_response& set(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

/// Completes one request. Callable from any thread, at most once; a call after
/// the connection closed is a no-op. Dropping it without a call closes the connection.
using http_responder = std::function<void(http_response)>;

/// Called on an io thread for every complete request; must not block.
using http_handler = std::function<void(http_request, http_responder)>;

/// A query string's parameters, URL-decoded, as Lambda gives them to a
/// function URL's event: repeated keys joined with commas.
std::map<std::string, std::string> query_parameters(std::string_view query);

/// `s` with its %XX escapes decoded ('+' stays '+', as in a URL's path).
std::string percent_decode(std::string_view s);

/// Case-insensitive ASCII comparison of header names.
bool iequals(std::string_view a, std::string_view b);

} // namespace troupe::net
