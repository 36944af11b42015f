#include "baseline_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace troupe::bench {

struct baseline_server::impl {
  std::string body;
  boost::asio::io_context ioc;
  tcp::acceptor acceptor{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::atomic<bool> stopping{false};
  std::thread accept_thread;

  void serve(tcp::socket sock) {
    sock.set_option(tcp::no_delay(true));
    beast::flat_buffer buf;
    beast::error_code ec;
    for (;;) {
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec)
        return;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(req.keep_alive());
      res.body() = body;
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !req.keep_alive())
        return;
    }
  }
};

baseline_server::baseline_server(std::string body) : impl_(std::make_unique<impl>()) {
  impl_->body = std::move(body);
  impl_->accept_thread = std::thread([this] {
    while (!impl_->stopping) {
      beast::error_code ec;
      tcp::socket sock{impl_->ioc};
      impl_->acceptor.accept(sock, ec);
      if (ec || impl_->stopping)
        return;
      std::thread([this, s = std::move(sock)]() mutable { impl_->serve(std::move(s)); }).detach();
    }
  });
}

baseline_server::~baseline_server() {
  impl_->stopping = true;
  // Wake the blocking accept with one connection of our own.
  beast::error_code ec;
  tcp::socket poke{impl_->ioc};
  poke.connect(impl_->acceptor.local_endpoint(), ec);
  impl_->accept_thread.join();
}

uint16_t baseline_server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

} // namespace troupe::bench
