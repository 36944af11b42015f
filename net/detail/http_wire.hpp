#pragma once
// Internal: the mapping between Troupe's HTTP types and Boost.Beast messages,
// and the server's own error answers. Include only from net/ .cpp files.

#include "net/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace troupe::net::detail {

using beast_request = boost::beast::http::request<boost::beast::http::string_body>;
using beast_response = boost::beast::http::response<boost::beast::http::string_body>;
using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// The server's first read of a request, before the parser asks for more.
constexpr std::size_t first_read_bytes = 8 * 1024;

/// Gives a fresh parser the server's header and body limits.
inline void apply_limits(request_parser& parser, const http_limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
}

/// An answer the server gives on its own before closing (4xx for a bad request).
struct error_reply {
  unsigned status;
  std::string type; ///< the x-amzn-ErrorType value
  std::string message;
};

/// The 431 for a header of `header_bytes` (start line and fields) over the
/// limit, or nullopt. Beast's own header_limit applies to the start line and
/// the fields apart when the start line arrives in one piece, and to both
/// together when it does not; this check holds the limit either way.
inline std::optional<error_reply> header_over_limit(std::size_t header_bytes,
                                                    const http_limits& limits) {
  if (header_bytes <= limits.max_header_bytes)
    return std::nullopt;
  return error_reply{431, "RequestHeaderFieldsTooLarge",
                     "request header exceeds " + std::to_string(limits.max_header_bytes) +
                         " bytes"};
}

inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return out;
}

/// The answer for a failed read, or nullopt when the connection just closes
/// (peer gone, socket error, shutdown).
inline std::optional<error_reply> classify_read_error(const boost::system::error_code& ec,
                                                      const http_limits& limits) {
  if (ec == boost::beast::http::error::header_limit)
    return error_reply{431, "RequestHeaderFieldsTooLarge",
                       "request header exceeds " + std::to_string(limits.max_header_bytes) +
                           " bytes"};
  if (ec == boost::beast::http::error::body_limit)
    return error_reply{413, "RequestEntityTooLargeException",
                       "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes"};
  if (ec == boost::beast::http::error::end_of_stream ||
      ec == boost::beast::http::error::partial_message)
    return std::nullopt;
  if (ec.category() ==
      boost::beast::http::make_error_code(boost::beast::http::error::bad_method).category())
    return error_reply{400, "BadRequest", "malformed request: " + ec.message()};
  return std::nullopt;
}

inline beast_response make_error_response(const error_reply& e) {
  beast_response res{static_cast<boost::beast::http::status>(e.status), 11};
  res.set(boost::beast::http::field::server, "troupe");
  res.set(boost::beast::http::field::content_type, "application/json");
  res.set("x-amzn-ErrorType", e.type);
  res.body() = R"({"Type":"User","message":")" + json_escape(e.message) + "\"}";
  res.prepare_payload();
  res.keep_alive(false);
  return res;
}

inline bool status_forbids_body(unsigned status) {
  return status / 100 == 1 || status == 204 || status == 304;
}

/// Turns the application's answer into the wire response: Content-Length from
/// the body, Server header, keep-alive as negotiated; HEAD keeps only the length.
inline beast_response make_response(http_response in, unsigned version, bool head,
                                    bool keep_alive) {
  auto status = (in.status >= 100 && in.status <= 999) ? static_cast<unsigned>(in.status) : 500u;
  beast_response res{static_cast<boost::beast::http::status>(status), version};
  for (auto& h : in.headers) {
    if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding"))
      continue;
    if (iequals(h.name, "connection")) {
      keep_alive = keep_alive && !iequals(h.value, "close");
      continue;
    }
    res.insert(h.name, h.value);
  }
  res.set(boost::beast::http::field::server, "troupe");
  if (!status_forbids_body(status))
    res.body() = std::move(in.body);
  res.prepare_payload();
  if (head)
    res.body().clear();
  res.keep_alive(keep_alive);
  return res;
}

inline http_request to_request(beast_request msg, const boost::asio::ip::tcp::endpoint& peer) {
  http_request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  for (const auto& f : msg)
    r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  r.body = std::move(msg.body());
  r.remote_ip = peer.address().to_string();
  r.remote_port = peer.port();
  return r;
}

} // namespace troupe::net::detail
