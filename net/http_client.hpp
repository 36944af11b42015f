#pragma once

#include "net/http_types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace troupe::net {

/// A blocking HTTP/1.1 keep-alive client for tests, benchmarks and tools.
/// Contract: every call has a timeout; on error it throws std::runtime_error
/// naming what failed; after an error the client reconnects on the next call.
class http_client {
public:
  http_client(std::string host, uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~http_client();

  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = {}, const std::vector<http_header>& headers = {});

  /// Sends raw bytes on a fresh connection and returns everything the server
  /// sends back until it closes the connection or the timeout passes.
  static std::string raw_exchange(const std::string& host, uint16_t port, const std::string& bytes,
                                  std::chrono::milliseconds timeout);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::net
