#include "net/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <stdexcept>

namespace troupe::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::uint32_t response_header_limit = 1024 * 1024;

/// Runs one asynchronous operation on `ctx` to completion and returns its error.
/// `start` receives the completion handler to pass to the operation.
template <class Start> error_code run_one(asio::io_context& ctx, Start&& start) {
  error_code result = asio::error::would_block;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ctx.restart();
  ctx.run();
  return result;
}

std::string describe(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

[[noreturn]] void fail(const std::string& where, const std::string& what, const error_code& ec) {
  throw std::runtime_error("http " + where + ": " + what + " failed: " + ec.message());
}

/// Resolves and connects `stream` within the deadline already set on it.
error_code connect(asio::io_context& ctx, beast::tcp_stream& stream, const std::string& host,
                   uint16_t port) {
  error_code ec;
  tcp::resolver resolver(ctx);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec)
    return ec;
  return run_one(ctx, [&](auto handler) { stream.async_connect(endpoints, handler); });
}

http_response to_response(http::response<http::string_body> msg) {
  http_response r;
  r.status = static_cast<int>(msg.result_int());
  for (const auto& f : msg)
    r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  r.body = std::move(msg.body());
  return r;
}

} // namespace

/// One keep-alive connection, reopened whenever it is missing or stale.
struct http_client::impl {
  impl(std::string h, uint16_t p, std::chrono::milliseconds t)
      : host(std::move(h)), port(p), timeout(t) {}

  void reset() {
    if (stream) {
      error_code ec;
      stream->socket().close(ec);
    }
    stream.reset();
    buffer.clear();
  }

  /// True when the kept connection can carry another request: the server has
  /// neither closed it nor sent anything unasked.
  bool reusable() {
    if (!stream || buffer.size() > 0)
      return false;
    auto& socket = stream->socket();
    error_code ec;
    socket.non_blocking(true, ec);
    char byte;
    socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
    error_code ignored;
    socket.non_blocking(false, ignored);
    return ec == asio::error::would_block;
  }

  void ensure_connected() {
    if (reusable())
      return;
    reset();
    stream.emplace(ctx);
    stream->expires_after(timeout);
    if (auto ec = connect(ctx, *stream, host, port)) {
      reset();
      fail(describe(host, port), "connect", ec);
    }
    error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
  }

  [[noreturn]] void fail_and_reset(const std::string& what, const error_code& ec) {
    reset();
    fail(describe(host, port), what, ec);
  }

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ctx;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

http_client::http_client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(std::move(host), port, timeout)) {}

http_client::~http_client() = default;

http_response http_client::request(const std::string& method, const std::string& target,
                                   const std::string& body,
                                   const std::vector<http_header>& headers) {
  auto& s = *impl_;
  s.ensure_connected();

  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  for (const auto& h : headers)
    req.insert(h.name, h.value);
  if (req.find(http::field::host) == req.end())
    req.set(http::field::host, describe(s.host, s.port));
  req.body() = body;
  req.prepare_payload();

  s.stream->expires_after(s.timeout);
  if (auto ec = run_one(s.ctx, [&](auto handler) { http::async_write(*s.stream, req, handler); }))
    s.fail_and_reset("write " + method + " " + target, ec);

  http::response_parser<http::string_body> parser;
  parser.header_limit(response_header_limit);
  parser.body_limit(boost::none);
  parser.skip(req.method() == http::verb::head);
  s.stream->expires_after(s.timeout);
  if (auto ec = run_one(
          s.ctx, [&](auto handler) { http::async_read(*s.stream, s.buffer, parser, handler); }))
    s.fail_and_reset("read response to " + method + " " + target, ec);

  auto msg = parser.release();
  if (!msg.keep_alive())
    s.reset();
  else
    s.stream->expires_never();
  return to_response(std::move(msg));
}

std::string http_client::raw_exchange(const std::string& host, uint16_t port,
                                      const std::string& bytes, std::chrono::milliseconds timeout) {
  asio::io_context ctx;
  beast::tcp_stream stream(ctx);
  stream.expires_after(timeout); // one deadline for the whole exchange
  if (auto ec = connect(ctx, stream, host, port))
    fail(describe(host, port), "connect", ec);
  // A write error (the server closed early) still leaves its answer to read.
  run_one(ctx, [&](auto handler) { asio::async_write(stream, asio::buffer(bytes), handler); });

  std::string received;
  char chunk[4096];
  for (;;) {
    std::size_t n = 0;
    stream.async_read_some(asio::buffer(chunk), [&](error_code, std::size_t got) { n = got; });
    ctx.restart();
    ctx.run();
    if (n == 0) // end of stream, timeout or error: read_some only fails with no data
      return received;
    received.append(chunk, n);
  }
}

} // namespace troupe::net
