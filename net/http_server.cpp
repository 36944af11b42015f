#include "net/http_server.hpp"

#include "net/detail/http_wire.hpp"
#include "net/detail/io_runtime_impl.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace troupe::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using detail::beast_response;
using detail::error_reply;
using detail::first_read_bytes;
using namespace std::chrono_literals;

constexpr auto accept_retry_delay = 50ms;
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

class connection;

} // namespace

/// The server's shared core: acceptor, handler, registry of live connections.
/// Connections hold it by shared_ptr, so no callback ever outlives it.
struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& c, http_limits l, http_handler h)
      : ctx(c), limits(l), handler(std::move(h)), acceptor(c), retry_timer(c) {}

  using configure_fn = std::function<void(tcp::acceptor&, error_code&)>;
  std::string open(const std::string& what, const configure_fn& configure);
  void accept_next();
  void on_accept(const error_code& ec, tcp::socket socket);
  void start_connection(tcp::socket socket);
  /// Calls the handler unless stopped; false when stopped.
  bool invoke(http_request req, http_responder responder);
  void forget(std::uint64_t id);
  void stop();

  asio::io_context& ctx;
  const http_limits limits;
  const http_handler handler;

  std::mutex acceptor_mu; ///< guards acceptor and retry_timer (stop() runs on any thread)
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::atomic<uint16_t> bound_port{0};
  std::atomic<bool> stopping{false}; ///< stop() began: answers are no longer written

  std::mutex mu; ///< guards everything below
  std::condition_variable calls_done;
  bool stopped = false;
  std::size_t active_calls = 0;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection>> live;
};

namespace {

/// The handler call in progress on this thread, so stop() from inside a
/// handler does not wait for itself.
thread_local const http_server::impl* calling_impl = nullptr;

/// One accepted socket. Its state is guarded by `mu_`: every completion and
/// posted step runs on the socket's strand under that lock, and a responder
/// takes the same lock on whatever thread calls it, so the answer is written
/// on that thread when the socket takes it at once (no hop to an io thread
/// and back on the common path); only the rest of a large answer waits for
/// an io thread. The handler is called outside the lock, so that it may
/// answer at once.
///
///   idle --first bytes--> reading --request--> handling --responder--> writing
///    ^                       | timeout: 408                               |
///    |                       | bad request: 4xx --> writing --> draining  |
///    +--------------------- keep-alive -----------------------------------+
///   closing (no keep-alive) = draining; any error, timeout or stop --> closed
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(std::shared_ptr<http_server::impl> core, tcp::socket socket, std::uint64_t id)
      : core_(std::move(core)), id_(id), executor_(socket.get_executor()),
        socket_(std::move(socket)), timer_(executor_) {
    error_code ec;
    peer_ = socket_.remote_endpoint(ec);
    // Synchronous writes never block; asynchronous operations are unaffected.
    socket_.non_blocking(true, ec);
  }
  ~connection() { core_->forget(id_); }

  void post_start() {
    post([](connection& c) { c.wait_for_request(); });
  }
  void post_close() {
    post([](connection& c) { c.close(); });
  }
  void post_abandon() {
    post([](connection& c) { c.abandon(); });
  }
  /// Answers the request being handled, on the calling thread.
  void deliver_now(http_response r) {
    run([&] { deliver(std::move(r)); });
  }

private:
  enum class phase { idle, reading, handling, writing, draining, closed };

  /// Runs one step under the lock, then hands the request it completed (if
  /// any) to the handler with the lock released.
  template <class Fn> void run(Fn&& fn) {
    std::optional<http_request> request;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn();
      request.swap(complete_);
    }
    if (request && !core_->invoke(std::move(*request), make_responder())) {
      std::lock_guard<std::mutex> lock(mu_);
      close();
    }
  }

  template <class Fn> void post(Fn fn) {
    asio::post(executor_, [self = shared_from_this(), fn] { self->run([&] { fn(*self); }); });
  }

  using step = void (connection::*)(const error_code&, std::size_t);

  /// A completion handler running `s`; it keeps the connection alive and is
  /// dropped once the connection closed.
  auto next(step s) {
    return [self = shared_from_this(), s](error_code ec, std::size_t n) {
      self->run([&] {
        if (self->phase_ != phase::closed)
          ((*self).*s)(ec, n);
      });
    };
  }

  /// Waits idle_timeout for the first byte of the next request, unless
  /// pipelined bytes are already buffered.
  void wait_for_request() {
    if (phase_ == phase::closed)
      return;
    if (buffer_.size() > 0)
      return read_header();
    phase_ = phase::idle;
    arm_timer(core_->limits.idle_timeout);
    socket_.async_read_some(buffer_.prepare(first_read_bytes), next(&connection::on_first_bytes));
  }

  void on_first_bytes(const error_code& ec, std::size_t n) {
    if (ec)
      return close();
    buffer_.commit(n);
    read_header();
  }

  /// From the first byte on, the whole request must arrive within read_timeout.
  void read_header() {
    phase_ = phase::reading;
    parser_.emplace();
    detail::apply_limits(*parser_, core_->limits);
    arm_timer(core_->limits.read_timeout);
    http::async_read_header(socket_, buffer_, *parser_, next(&connection::on_header));
  }

  void on_header(const error_code& ec, std::size_t header_bytes) {
    if (ec)
      return on_read_error(ec);
    if (auto reply = detail::header_over_limit(header_bytes, core_->limits)) {
      disarm_timer();
      return send_error(*reply);
    }
    if (!iequals(parser_->get()[http::field::expect], "100-continue"))
      return read_body();
    asio::async_write(socket_, asio::buffer(continue_line.data(), continue_line.size()),
                      next(&connection::on_continue_sent));
  }

  void on_continue_sent(const error_code& ec, std::size_t) {
    if (ec)
      return on_read_error(ec);
    read_body();
  }

  void read_body() { http::async_read(socket_, buffer_, *parser_, next(&connection::on_request)); }

  void on_request(const error_code& ec, std::size_t) {
    disarm_timer();
    if (ec)
      return on_read_error(ec);
    auto msg = parser_->release();
    parser_.reset();
    version_ = msg.version() == 10 ? 10 : 11;
    head_ = msg.method() == http::verb::head;
    keep_alive_ = msg.keep_alive();
    phase_ = phase::handling;
    complete_ = detail::to_request(std::move(msg), peer_);
  }

  void on_read_error(const error_code& ec) {
    if (ec == http::error::body_limit && core_->limits.hand_over_oversized && parser_)
      return hand_over_oversized();
    if (timed_out_)
      return send_error({408, "RequestTimeout",
                         "request not complete within " +
                             std::to_string(core_->limits.read_timeout.count()) + " ms"});
    if (auto reply = detail::classify_read_error(ec, core_->limits))
      return send_error(*reply);
    close();
  }

  /// The head of a request whose body is over the limit, for the handler to
  /// answer; the rest of the body is never read, so the connection closes.
  void hand_over_oversized() {
    disarm_timer();
    version_ = parser_->get().version() == 10 ? 10 : 11;
    auto req = detail::to_request(parser_->release(), peer_);
    parser_.reset();
    req.body.clear();
    req.body_too_large = true;
    head_ = false;
    keep_alive_ = false;
    phase_ = phase::handling;
    complete_ = std::move(req);
  }

  http_responder make_responder();

  void deliver(http_response r) {
    if (phase_ != phase::handling)
      return;
    if (core_->stopping.load(std::memory_order_acquire))
      return close(); // its closing may still be on its way
    write(detail::make_response(std::move(r), version_, head_, keep_alive_));
  }

  void abandon() {
    if (phase_ == phase::handling)
      close();
  }

  void send_error(const error_reply& e) { write(detail::make_error_response(e)); }

  /// Writes one response: what the socket takes now at once, the rest
  /// asynchronously, where a stuck reader gets idle_timeout for the whole write.
  void write(beast_response res) {
    phase_ = phase::writing;
    keep_alive_ = res.keep_alive();
    response_.emplace(std::move(res));
    serializer_.emplace(*response_);
    error_code ec;
    while (!ec && !serializer_->is_done())
      http::write_some(socket_, *serializer_, ec);
    if (ec != asio::error::would_block)
      return on_written(ec, 0);
    arm_timer(core_->limits.idle_timeout);
    http::async_write(socket_, *serializer_, next(&connection::on_written));
  }

  void on_written(const error_code& ec, std::size_t) {
    disarm_timer();
    serializer_.reset();
    response_.reset();
    if (ec)
      return close();
    if (!keep_alive_)
      return shut_down_gracefully();
    wait_for_request();
  }

  /// Sends FIN and discards what the peer still sends (so our answer is not
  /// lost to a reset), until the peer closes or a short grace period ends.
  void shut_down_gracefully() {
    phase_ = phase::draining;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    arm_timer(std::min<std::chrono::milliseconds>(core_->limits.read_timeout, 1s));
    on_drained({}, 0);
  }

  void on_drained(const error_code& ec, std::size_t) {
    if (ec)
      return close();
    buffer_.consume(buffer_.size());
    socket_.async_read_some(buffer_.prepare(first_read_bytes), next(&connection::on_drained));
  }

  void close() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    disarm_timer();
    error_code ec;
    socket_.close(ec);
  }

  void arm_timer(std::chrono::milliseconds d) {
    timed_out_ = false;
    auto gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
      self->run([&] {
        if (!ec && gen == self->timer_gen_)
          self->on_timeout();
      });
    });
  }

  void disarm_timer() {
    ++timer_gen_;
    timer_.cancel();
  }

  /// A started request gets a 408 (after the cancelled read returns); idle,
  /// writing and draining connections just close.
  void on_timeout() {
    if (phase_ != phase::reading)
      return close();
    timed_out_ = true;
    error_code ec;
    socket_.cancel(ec);
  }

  std::shared_ptr<http_server::impl> core_;
  const std::uint64_t id_;
  std::mutex mu_;                        ///< guards everything below but the constants
  std::optional<http_request> complete_; ///< read, to be handed to the handler
  asio::any_io_executor executor_;       ///< the connection's strand
  tcp::socket socket_;
  tcp::endpoint peer_;
  asio::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;
  bool timed_out_ = false;
  phase phase_ = phase::idle;
  beast::flat_buffer buffer_;
  std::optional<detail::request_parser> parser_;
  std::optional<beast_response> response_;
  std::optional<http::response_serializer<http::string_body>> serializer_; ///< of response_
  unsigned version_ = 11;
  bool head_ = false;
  bool keep_alive_ = false;
};

/// Shared by all copies of one responder: the first call delivers; if no copy
/// was ever called, the last one to go closes the connection.
struct reply_slot {
  explicit reply_slot(std::shared_ptr<connection> c) : conn(std::move(c)) {}
  ~reply_slot() {
    if (!used.load())
      conn->post_abandon();
  }
  std::shared_ptr<connection> conn;
  std::atomic<bool> used{false};
};

http_responder connection::make_responder() {
  auto slot = std::make_shared<reply_slot>(shared_from_this());
  return [slot](http_response r) {
    if (!slot->used.exchange(true))
      slot->conn->deliver_now(std::move(r));
  };
}

} // namespace

std::string http_server::impl::open(const std::string& what, const configure_fn& configure) {
  {
    std::lock_guard<std::mutex> lock(acceptor_mu);
    if (acceptor.is_open())
      return what + ": server is already listening";
    {
      std::lock_guard<std::mutex> state_lock(mu);
      if (stopped)
        return what + ": server is stopped";
    }
    error_code ec;
    configure(acceptor, ec);
    if (!ec)
      bound_port = acceptor.local_endpoint(ec).port();
    if (ec) {
      error_code ignored;
      acceptor.close(ignored);
      return what + ": " + ec.message();
    }
  }
  accept_next();
  return {};
}

void http_server::impl::accept_next() {
  std::lock_guard<std::mutex> lock(acceptor_mu);
  if (!acceptor.is_open())
    return;
  acceptor.async_accept(asio::make_strand(ctx),
                        [self = shared_from_this()](error_code ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void http_server::impl::on_accept(const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted)
    return;
  if (!ec) {
    start_connection(std::move(socket));
    return accept_next();
  }
  // Out of descriptors or similar: retry later instead of spinning.
  std::lock_guard<std::mutex> lock(acceptor_mu);
  retry_timer.expires_after(accept_retry_delay);
  retry_timer.async_wait([self = shared_from_this()](error_code wait_ec) {
    if (!wait_ec)
      self->accept_next();
  });
}

void http_server::impl::start_connection(tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopped)
      return;
    auto id = next_id++;
    conn = std::make_shared<connection>(shared_from_this(), std::move(socket), id);
    live.emplace(id, conn);
  }
  conn->post_start();
}

bool http_server::impl::invoke(http_request req, http_responder responder) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopped)
      return false;
    ++active_calls;
  }
  auto fallback = responder; // answers 500 if the handler throws before answering
  calling_impl = this;
  try {
    handler(std::move(req), std::move(responder));
  } catch (const std::exception& e) {
    fallback(http_response{500, {{"Content-Type", "text/plain"}}, e.what()});
  } catch (...) {
    fallback(http_response{500, {}, {}});
  }
  calling_impl = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  --active_calls;
  calls_done.notify_all();
  return true;
}

void http_server::impl::forget(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mu);
  live.erase(id);
}

void http_server::impl::stop() {
  std::vector<std::weak_ptr<connection>> conns;
  stopping = true;
  {
    std::lock_guard<std::mutex> lock(mu);
    stopped = true;
    for (auto& entry : live)
      conns.push_back(entry.second);
  }
  {
    std::lock_guard<std::mutex> lock(acceptor_mu);
    error_code ec;
    acceptor.close(ec);
    retry_timer.cancel();
  }
  for (auto& weak : conns)
    if (auto conn = weak.lock())
      conn->post_close();
  std::unique_lock<std::mutex> lock(mu);
  std::size_t own = calling_impl == this ? 1 : 0;
  calls_done.wait(lock, [&] { return active_calls == own; });
}

http_server::http_server(io_runtime& io, http_limits limits, http_handler handler)
    : impl_(std::make_shared<impl>(asio_context(io), limits, std::move(handler))) {}

http_server::~http_server() {
  stop();
}

std::string http_server::listen(const std::string& host, uint16_t port) {
  auto what = "listen on " + host + ":" + std::to_string(port);
  error_code ec;
  tcp::resolver resolver(impl_->ctx);
  auto found = resolver.resolve(host.empty() ? "0.0.0.0" : host, std::to_string(port),
                                tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty())
    return what + ": " + (ec ? ec.message() : "no address");
  tcp::endpoint endpoint = *found.begin();
  return impl_->open(what, [&](tcp::acceptor& a, error_code& err) {
    a.open(endpoint.protocol(), err);
    if (!err)
      a.set_option(tcp::acceptor::reuse_address(true), err);
    if (!err)
      a.bind(endpoint, err);
    if (!err)
      a.listen(asio::socket_base::max_listen_connections, err);
  });
}

std::string http_server::adopt(int listening_fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  auto protocol = tcp::v4();
  if (::getsockname(listening_fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
      addr.ss_family == AF_INET6)
    protocol = tcp::v6();
  bool taken = false; // once assigned, the acceptor closes the fd
  auto result = impl_->open("adopt fd " + std::to_string(listening_fd),
                            [&](tcp::acceptor& a, error_code& err) {
                              a.assign(protocol, listening_fd, err);
                              taken = !err;
                            });
  if (!result.empty() && !taken)
    ::close(listening_fd); // ownership was passed to us either way
  return result;
}

uint16_t http_server::port() const {
  return impl_->bound_port;
}

void http_server::stop() {
  impl_->stop();
}

} // namespace troupe::net
