#include "runtime/output_capture.hpp"

#include "net/detail/io_runtime_impl.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <cerrno>
#include <mutex>
#include <unistd.h>

namespace troupe::runtime {

struct output_capture::state {
  state(boost::asio::io_context& ctx, int fd, std::size_t max) : pipe(ctx, fd), max_bytes(max) {}

  std::mutex mu;
  boost::asio::posix::stream_descriptor pipe;
  std::size_t max_bytes;
  std::string held;
  std::size_t dropped = 0;
  bool closed = false; ///< the destructor ran, or every writer is gone

  /// Reads what the pipe holds now. Caller holds `mu`.
  void drain() {
    char buf[65536];
    while (!closed) {
      ssize_t n = ::read(pipe.native_handle(), buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0) { // EOF: nothing of the sandbox is left to write
        closed = true;
        boost::system::error_code ignored;
        pipe.close(ignored);
      }
      if (n <= 0)
        return;
      held.append(buf, static_cast<std::size_t>(n));
      // Trimmed once twice the bound is reached: a copy per max_bytes read, not per read.
      if (held.size() >= 2 * max_bytes) {
        dropped += held.size() - max_bytes;
        held.erase(0, held.size() - max_bytes);
      }
    }
  }
};

namespace {

void arm(const std::shared_ptr<output_capture::state>& s) {
  s->pipe.async_wait(boost::asio::posix::descriptor_base::wait_read,
                     [s](const boost::system::error_code& ec) {
                       std::lock_guard lock{s->mu};
                       if (ec || s->closed)
                         return;
                       s->drain();
                       if (!s->closed)
                         arm(s);
                     });
}

} // namespace

output_capture::output_capture(net::io_runtime& io, int fd, std::size_t max_bytes)
    : state_(std::make_shared<state>(net::asio_context(io), fd, max_bytes)) {
  std::lock_guard lock{state_->mu};
  arm(state_);
}

output_capture::~output_capture() {
  std::lock_guard lock{state_->mu};
  if (state_->closed)
    return;
  state_->closed = true;
  boost::system::error_code ignored;
  state_->pipe.close(ignored); // cancels the wait; its handler then sees `closed`
}

std::string output_capture::take() {
  std::lock_guard lock{state_->mu};
  state_->drain();
  auto& s = *state_;
  if (s.held.size() > s.max_bytes) {
    s.dropped += s.held.size() - s.max_bytes;
    s.held.erase(0, s.held.size() - s.max_bytes);
  }
  std::string out;
  if (s.dropped > 0)
    out = "[troupe: " + std::to_string(s.dropped) + " bytes of output dropped]\n";
  out += std::move(s.held);
  s.held.clear();
  s.dropped = 0;
  return out;
}

} // namespace troupe::runtime
