#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace troupe::net {
class io_runtime;
}

namespace troupe::runtime {

/// What a sandbox's processes write to stdout and stderr (the pipe of
/// sandbox::release_output_fd), read on io threads as it comes so that the
/// runtime never blocks on a full pipe, and handed out in pieces: take()
/// returns what came since the last take. An invocation's output is
/// therefore what take() returns once its runtime has answered: the
/// runtime's writes to the pipe finished before its answer was sent, and
/// take() drains the pipe first.
///
/// Contract: at most `max_bytes` are held; beyond that the oldest go, and the
/// next take() begins with a line saying how many. Thread-safe. The
/// destructor stops the reading and closes the pipe (the runtime's further
/// writes fail with EPIPE); it must run before `io` stops.
class output_capture {
public:
  output_capture(net::io_runtime& io, int fd, std::size_t max_bytes);
  ~output_capture();
  output_capture(const output_capture&) = delete;
  output_capture& operator=(const output_capture&) = delete;

  std::string take();

  struct state;

private:
  std::shared_ptr<state> state_;
};

} // namespace troupe::runtime
