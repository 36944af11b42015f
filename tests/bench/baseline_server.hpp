#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace troupe::bench {

/// The baseline of the benchmarks: a minimal Boost.Beast HTTP/1.1 server
/// (a thread per connection, synchronous reads and writes) that answers every
/// request with the same fixed body. Whatever Troupe adds is measured against it.
class baseline_server {
public:
  explicit baseline_server(std::string body);
  ~baseline_server();
  uint16_t port() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::bench
