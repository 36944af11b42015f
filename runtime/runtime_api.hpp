#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace troupe::net {
class io_runtime;
}

namespace troupe::runtime {

/// One invocation as the runtime receives it from `/invocation/next`: the
/// body and the `Lambda-Runtime-*` headers Lambda sends with it.
struct runtime_event {
  std::string request_id;       ///< Lambda-Runtime-Aws-Request-Id
  int64_t deadline_ms = 0;      ///< Lambda-Runtime-Deadline-Ms: Unix epoch milliseconds
  std::string function_arn;     ///< Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;         ///< Lambda-Runtime-Trace-Id (X-Ray format, see xray_trace_id)
  std::string payload;          ///< the event JSON
  std::string client_context;   ///< Lambda-Runtime-Client-Context (JSON), sent only when set
  std::string cognito_identity; ///< Lambda-Runtime-Cognito-Identity (JSON), sent only when set
};

/// An X-Ray trace header as Lambda gives one to the runtime and in
/// _X_AMZN_TRACE_ID ("Root=1-<8 hex seconds>-<24 hex>;Parent=<16 hex>;Sampled=0"),
/// its ids taken from the request id (a UUID), so one request keeps one trace.
std::string xray_trace_id(std::string_view request_id, int64_t now_ms);

/// The trace header the runtime gets: the caller's X-Amzn-Trace-Id when it is
/// an X-Ray header (it names a "Root=1-..." and holds only letters, digits
/// and "=;-:._", at most 256 of them: nothing that could break the Runtime
/// API's header), else a new one (xray_trace_id).
std::string trace_id_for(std::string_view caller_header, std::string_view request_id,
                         int64_t now_ms);

/// When the runtime reached each step (steady clock; default-constructed:
/// not yet): its first `/next` (its init is over), and of the latest event,
/// when `/next` handed it over and when the runtime answered it.
struct runtime_times {
  std::chrono::steady_clock::time_point ready;
  std::chrono::steady_clock::time_point fetched;
  std::chrono::steady_clock::time_point answered;
};

/// The most a runtime may answer: Lambda's 6 MB and the 100 bytes it allows on top.
constexpr std::size_t max_runtime_response_bytes = 6 * 1024 * 1024 + 100;

/// What the runtime inside a sandbox reports. Called on io threads; must not block.
struct runtime_api_callbacks {
  std::function<void(std::string request_id, std::string payload)> on_response;
  std::function<void(std::string request_id, std::string error_type, std::string payload)> on_error;
  std::function<void(std::string error_type, std::string payload)> on_init_error;
};

/// The AWS Lambda Runtime API (2018-06-01) of one sandbox, served on a
/// listening socket that exists only inside that sandbox's network namespace.
/// Contract: deliver() hands one event to the runtime (to its waiting or its
/// next `/next` call); at most one event is outstanding. Refusals are Lambda's,
/// each a JSON {errorType, errorMessage}, and none is reported to the callbacks:
///   unknown path 404; known path, wrong method 405 (with Allow);
///   response/error for an id not outstanding 400 InvalidRequestID, for the id
///   just answered 403 InvalidStateTransition; init/error once the runtime has
///   asked for an event 403 InvalidStateTransition.
/// A response over `max_response_bytes` gets 413 RequestEntityTooLarge and is
/// reported as the function's error Function.ResponseSizeTooLarge.
class runtime_api {
public:
  runtime_api(net::io_runtime& io, int listening_fd, runtime_api_callbacks callbacks,
              std::size_t max_response_bytes = max_runtime_response_bytes);
  ~runtime_api();
  runtime_api(const runtime_api&) = delete;
  runtime_api& operator=(const runtime_api&) = delete;

  /// Thread-safe. Returns false if an event is already outstanding.
  bool deliver(runtime_event ev);
  /// Thread-safe. Set before the callbacks hear of an answer.
  runtime_times times() const;
  void stop();

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe::runtime
