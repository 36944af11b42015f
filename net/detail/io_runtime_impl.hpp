#pragma once
// Internal: the Asio side of io_runtime. Include only from .cpp files that
// implement Troupe's I/O interfaces (net/, runtime/).

#include "net/io_runtime.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>
#include <vector>

namespace troupe::net {

struct io_runtime::impl {
  boost::asio::io_context ctx;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ctx.get_executor()};
  std::vector<std::thread> threads;
};

/// The event loop of `io`.
inline boost::asio::io_context& asio_context(io_runtime& io) {
  return io.internals().ctx;
}

} // namespace troupe::net
