#pragma once

#include <cstddef>
#include <memory>

namespace troupe::net {

/// A pool of I/O threads running one event loop (Boost.Asio inside).
/// Contract: threads start in the constructor; stop() (or the destructor)
/// stops the loop and joins them. Servers and watchers that use it must be
/// stopped before it.
class io_runtime {
public:
  explicit io_runtime(std::size_t threads);
  ~io_runtime();
  io_runtime(const io_runtime&) = delete;
  io_runtime& operator=(const io_runtime&) = delete;

  void stop();

  struct impl;
  impl& internals() { return *impl_; }

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::net
