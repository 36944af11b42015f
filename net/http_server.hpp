#pragma once

#include "net/http_types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace troupe::net {

class io_runtime;

/// What one connection may send before it is answered with an error and closed.
struct http_limits {
  std::size_t max_header_bytes = 16 * 1024;      ///< over: 431, then close
  std::size_t max_body_bytes = 70 * 1024 * 1024; ///< over: 413, then close
  /// Over max_body_bytes, hand the request to the handler anyway, its body
  /// dropped and `body_too_large` set, so that it answers (and acts) itself;
  /// the connection closes after that answer.
  bool hand_over_oversized = false;
  std::chrono::milliseconds read_timeout{
      10'000}; ///< a started request must complete: else 408, close
  std::chrono::milliseconds idle_timeout{
      60'000}; ///< no new request on a keep-alive connection: close
};

/// An HTTP/1.1 server (Boost.Beast) that hands complete requests to a handler.
/// Contract: requests on one connection are answered in order (pipelining is
/// safe: the next request is read only after the previous answer is written);
/// malformed requests get 400 and limit violations 408/413/431, each with a JSON
/// error body, then the connection closes. Keep-alive follows HTTP/1.1 rules.
/// A responder keeps its connection's state alive: drop every responder before
/// the io_runtime is destroyed.
class http_server {
public:
  http_server(io_runtime& io, http_limits limits, http_handler handler);
  ~http_server(); // stops
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and listens on host:port (port 0 picks one). Returns "" or an error text.
  std::string listen(const std::string& host, uint16_t port);
  /// Serves on an already bound and listening TCP socket, taking ownership of it.
  std::string adopt(int listening_fd);
  /// The bound port (after listen or adopt).
  uint16_t port() const;
  /// Closes the listener and every connection; pending responders become no-ops.
  /// Idempotent, callable from any thread (a handler too); returns once no
  /// handler call is running on another thread, and none starts afterwards.
  void stop();

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe::net
