#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace troupe::net {
class io_runtime;
}

namespace troupe::runtime {

/// One invocation as the runtime receives it from `/invocation/next`.
struct runtime_event {
  std::string request_id;
  int64_t deadline_ms = 0; ///< Unix epoch milliseconds
  std::string function_arn;
  std::string trace_id;
  std::string payload;
};

/// What the runtime inside a sandbox reports. Called on io threads; must not block.
struct runtime_api_callbacks {
  std::function<void(std::string request_id, std::string payload)> on_response;
  std::function<void(std::string request_id, std::string error_type, std::string payload)> on_error;
  std::function<void(std::string error_type, std::string payload)> on_init_error;
};

/// The AWS Lambda Runtime API (2018-06-01) of one sandbox, served on a
/// listening socket that exists only inside that sandbox's network namespace.
/// Contract: deliver() hands one event to the runtime (to its waiting or its
/// next `/next` call); at most one event is outstanding; responses and errors
/// for any other request id are refused with 400 and not reported.
class runtime_api {
public:
  runtime_api(net::io_runtime& io, int listening_fd, runtime_api_callbacks callbacks,
              std::size_t max_response_bytes = 6 * 1024 * 1024);
  ~runtime_api();
  runtime_api(const runtime_api&) = delete;
  runtime_api& operator=(const runtime_api&) = delete;

  /// Thread-safe. Returns false if an event is already outstanding.
  bool deliver(runtime_event ev);
  void stop();

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe::runtime
