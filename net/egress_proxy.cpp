#include "net/egress_proxy.hpp"

#include "net/detail/io_runtime_impl.hpp"
#include "net/json_writer.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <deque>
#include <mutex>
#include <set>

namespace troupe::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class pump_impl final : public stream_pump {
public:
  explicit pump_impl(tcp::socket sock)
      : strand_(asio::make_strand(sock.get_executor())), sock_(std::move(sock)), idle_(strand_) {}

  void start(callbacks cb, std::string first, int idle_ms) override {
    asio::post(strand_, [self = me(), cb = std::move(cb), first = std::move(first), idle_ms]() {
      error_code ec;
      self->sock_.non_blocking(true, ec); // read_ready reads what is there, never waits
      self->cb_ = std::move(cb);
      self->idle_ms_ = idle_ms;
      if (!first.empty())
        self->queue(std::move(first), false);
      self->read_more();
      self->arm_idle();
    });
  }

  void write(std::string bytes) override {
    asio::post(strand_,
               [self = me(), b = std::move(bytes)]() mutable { self->queue(std::move(b), true); });
  }

  void acknowledge(std::size_t n) override {
    asio::post(strand_, [self = me(), n] {
      self->unacked_ -= std::min(n, self->unacked_);
      self->read_more();
    });
  }

  void close(std::string reason) override {
    asio::post(strand_, [self = me(), reason = std::move(reason)]() mutable {
      if (!reason.empty() || self->out_.empty())
        return self->finish(std::move(reason));
      self->closing_ = true; // what was given to write goes out first
    });
  }

private:
  std::shared_ptr<pump_impl> me() {
    return std::static_pointer_cast<pump_impl>(shared_from_this());
  }

  void queue(std::string bytes, bool from_peer) {
    if (closed_ || bytes.empty())
      return;
    out_.push_back({std::move(bytes), from_peer});
    write_more();
  }

  void write_more() {
    if (writing_ || out_.empty() || closed_)
      return;
    writing_ = true;
    asio::async_write(sock_, asio::buffer(out_.front().bytes),
                      asio::bind_executor(strand_, [self = me()](error_code ec, std::size_t n) {
                        self->writing_ = false;
                        if (ec)
                          return self->finish("write: " + ec.message());
                        self->active_ = true;
                        bool ack = self->out_.front().from_peer;
                        self->out_.pop_front();
                        if (ack && self->cb_.on_written)
                          self->cb_.on_written(n);
                        if (self->closing_ && self->out_.empty())
                          return self->finish({});
                        self->write_more();
                      }));
  }

  /// Waits until the socket is readable, then reads what is there (at most
  /// what the window has room for) through the io thread's buffer: an idle
  /// connection holds no read buffer of its own.
  void read_more() {
    if (closed_ || reading_ || closing_ || unacked_ >= stream_window)
      return;
    reading_ = true;
    sock_.async_wait(tcp::socket::wait_read,
                     asio::bind_executor(strand_, [self = me()](error_code ec) {
                       self->reading_ = false;
                       if (self->closed_)
                         return;
                       if (ec)
                         return self->finish("read: " + ec.message());
                       self->read_ready();
                     }));
  }

  void read_ready() {
    thread_local std::array<char, stream_read_max> buf; // shared by the io thread's pumps
    error_code ec;
    auto n = sock_.read_some(
        asio::buffer(buf.data(), std::min(buf.size(), stream_window - unacked_)), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again)
      return read_more();
    if (ec)
      return finish(ec == asio::error::eof ? std::string{} : "read: " + ec.message());
    active_ = true;
    unacked_ += n;
    if (cb_.on_data)
      cb_.on_data(std::string(buf.data(), n));
    read_more();
  }

  void arm_idle() {
    if (idle_ms_ <= 0 || closed_)
      return;
    idle_.expires_after(std::chrono::milliseconds(idle_ms_));
    idle_.async_wait([self = me()](error_code ec) {
      if (ec || self->closed_)
        return;
      if (!self->active_ && self->out_.empty())
        return self->finish("idle for " + std::to_string(self->idle_ms_ / 1000) + " s");
      self->active_ = false;
      self->arm_idle();
    });
  }

  void finish(std::string reason) {
    if (closed_)
      return;
    closed_ = true;
    error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    idle_.cancel();
    auto done = std::move(cb_.on_closed);
    cb_ = {};
    if (done)
      done(std::move(reason));
  }

  struct chunk {
    std::string bytes;
    bool from_peer;
  };
  asio::strand<tcp::socket::executor_type> strand_;
  tcp::socket sock_;
  asio::steady_timer idle_;
  callbacks cb_;
  std::deque<chunk> out_;
  std::size_t unacked_ = 0;
  int idle_ms_ = 0;
  bool reading_ = false, writing_ = false, closing_ = false, closed_ = false, active_ = false;
};

/// "host:port", "[v6]:port" or, with a default port, "host".
bool split_authority(std::string_view a, uint16_t default_port, std::string& host, uint16_t& port) {
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos)
      return false;
    host = std::string{a.substr(1, close - 1)};
    auto rest = a.substr(close + 1);
    if (rest.empty())
      return (port = default_port) != 0;
    return rest.front() == ':' && parse_port(rest.substr(1), port);
  }
  auto colon = a.rfind(':');
  host = std::string{a.substr(0, colon)};
  if (colon == std::string_view::npos)
    return !host.empty() && (port = default_port) != 0;
  return !host.empty() && parse_port(a.substr(colon + 1), port);
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i])
      return false;
  return true;
}

/// The answer to a request the proxy refuses or cannot carry.
std::string refusal(int status, const std::string& message) {
  json_writer w;
  w.begin_object()
      .field("Type", status == 403   ? "EgressDenied"
                     : status == 400 ? "BadRequest"
                     : status == 429 ? "EgressLimitExceeded"
                                     : "EgressFailed")
      .field("Message", message)
      .end_object();
  auto body = w.take();
  const char* reason = status == 403   ? "Forbidden"
                       : status == 400 ? "Bad Request"
                       : status == 429 ? "Too Many Requests"
                                       : "Bad Gateway";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

} // namespace

bool parse_port(std::string_view s, uint16_t& port) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535)
    return false;
  port = static_cast<uint16_t>(v);
  return true;
}

std::string parse_proxy_head(std::string_view head, proxy_target& out) {
  auto eol = head.find("\r\n");
  if (eol == std::string_view::npos)
    return "the request line does not end";
  auto line = head.substr(0, eol);
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1)
    return "the request line is not METHOD TARGET VERSION";
  auto method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
       version = line.substr(sp2 + 1);
  if (version.substr(0, 7) != "HTTP/1.")
    return "only HTTP/1 requests are proxied";
  out = {};
  if (method == "CONNECT") {
    out.tunnel = true;
    if (!split_authority(target, 0, out.host, out.port))
      return "CONNECT names host:port";
    return {};
  }
  if (!starts_with_nocase(target, "http://"))
    return starts_with_nocase(target, "https://")
               ? "https is proxied with CONNECT (set HTTPS_PROXY)"
               : "a proxied request names its absolute URL (http://host/path)";
  auto rest = target.substr(7);
  auto slash = rest.find('/');
  if (!split_authority(rest.substr(0, slash), 80, out.host, out.port))
    return "the URL's host or port is not valid";
  auto path = slash == std::string_view::npos ? std::string_view{"/"} : rest.substr(slash);
  // The head in origin form; the connection carries this one request.
  out.first.append(method).append(" ").append(path).append(" ").append(version).append("\r\n");
  for (auto at = eol + 2; at < head.size();) {
    auto next = head.find("\r\n", at);
    if (next == std::string_view::npos || next == at)
      break;
    auto field = head.substr(at, next - at);
    if (!starts_with_nocase(field, "proxy-") && !starts_with_nocase(field, "connection:"))
      out.first.append(field).append("\r\n");
    at = next + 2;
  }
  out.first.append("Connection: close\r\n\r\n");
  return {};
}

void stream_pump::connect(io_runtime& io, const std::string& address, uint16_t port, int timeout_ms,
                          std::function<void(std::shared_ptr<stream_pump>, std::string)> done) {
  error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec)
    return done(nullptr, "not an address: " + address);
  auto& ctx = asio_context(io);
  auto sock = std::make_shared<tcp::socket>(ctx);
  auto timer = std::make_shared<asio::steady_timer>(ctx, std::chrono::milliseconds(timeout_ms));
  auto once = std::make_shared<std::once_flag>();
  auto finish = [=](std::shared_ptr<stream_pump> p, std::string err) {
    std::call_once(*once, [&] { done(std::move(p), std::move(err)); });
  };
  timer->async_wait([=](error_code e) {
    if (!e) {
      error_code ignored;
      sock->close(ignored);
      finish(nullptr, "no connection within " + std::to_string(timeout_ms) + " ms");
    }
  });
  sock->async_connect({ip, port}, [=](error_code e) {
    timer->cancel();
    if (e)
      return finish(nullptr, e.message());
    finish(std::make_shared<pump_impl>(std::move(*sock)), {});
  });
}

void resolve(io_runtime& io, const std::string& host,
             std::function<void(std::vector<std::string>, std::string)> done) {
  error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (!ec)
    return done({ip.to_string()}, {});
  auto r = std::make_shared<tcp::resolver>(asio_context(io));
  r->async_resolve(host, "", [r, host, done](error_code e, tcp::resolver::results_type results) {
    if (e)
      return done({}, "cannot resolve " + host + ": " + e.message());
    std::vector<std::string> out;
    for (const auto& entry : results)
      if (auto a = entry.endpoint().address().to_string();
          std::find(out.begin(), out.end(), a) == out.end())
        out.push_back(a);
    done(std::move(out), {});
  });
}

// ---- the proxy --------------------------------------------------------------

struct egress_proxy::impl : std::enable_shared_from_this<egress_proxy::impl> {
  /// One function connection: its head, then its path and pump.
  struct conn {
    tcp::socket sock;
    std::string head;
    std::unique_ptr<egress_path> path;
    std::mutex mu;                     ///< guards what follows (events come on other threads)
    std::shared_ptr<stream_pump> pump; ///< set once started
    /// What came from the path before the pump started (the destination may
    /// speak first), and whether it ended meanwhile: passed on, in order,
    /// when it starts.
    std::vector<std::string> early;
    bool ended_early = false;
    std::string end_reason;
    explicit conn(tcp::socket s) : sock(std::move(s)) {}
  };

  impl(io_runtime& i, egress_opener o, int idle)
      : io(i), acceptor(asio_context(i)), opener(std::move(o)), idle_ms(idle) {}

  io_runtime& io;
  tcp::acceptor acceptor;
  egress_opener opener;
  int idle_ms;
  std::mutex mu;
  bool stopped = false;
  std::set<std::shared_ptr<conn>> conns;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket s) {
      if (ec)
        return; // closed: the proxy stops
      auto c = std::make_shared<conn>(std::move(s));
      {
        std::lock_guard<std::mutex> lock(self->mu);
        if (self->stopped)
          return;
        self->conns.insert(c);
      }
      self->read_head(c);
      self->accept();
    });
  }

  void forget(const std::shared_ptr<conn>& c) {
    std::lock_guard<std::mutex> lock(mu);
    conns.erase(c);
  }

  /// Answers `c` with `reply` and closes it.
  void refuse(const std::shared_ptr<conn>& c, std::string reply) {
    auto text = std::make_shared<std::string>(std::move(reply));
    asio::async_write(c->sock, asio::buffer(*text),
                      [self = shared_from_this(), c, text](error_code, std::size_t) {
                        error_code ignored;
                        c->sock.shutdown(tcp::socket::shutdown_both, ignored);
                        c->sock.close(ignored);
                        self->forget(c);
                      });
  }

  void read_head(const std::shared_ptr<conn>& c) {
    asio::async_read_until(
        c->sock, asio::dynamic_buffer(c->head, 16 * 1024), "\r\n\r\n",
        [self = shared_from_this(), c](error_code ec, std::size_t n) {
          if (ec)
            return ec == asio::error::not_found
                       ? self->refuse(c, refusal(400, "the request head is over 16 KiB"))
                       : self->forget(c);
          proxy_target t;
          auto bad = parse_proxy_head(std::string_view{c->head}.substr(0, n), t);
          if (!bad.empty())
            return self->refuse(c, refusal(400, bad));
          auto extra = c->head.substr(n); // bytes sent after the head (a body, say)
          self->open(c, std::move(t), std::move(extra));
        });
  }

  void open(const std::shared_ptr<conn>& c, proxy_target t, std::string extra) {
    auto self = shared_from_this();
    auto pump_of = [c] {
      std::lock_guard<std::mutex> lock(c->mu);
      return c->pump;
    };
    egress_path::events ev;
    auto where = t.host + ":" + std::to_string(t.port);
    ev.opened = [self, c, t, extra, where](std::string error) mutable {
      asio::post(asio_context(self->io), [=]() mutable {
        if (!error.empty())
          return self->refuse(c, refusal(error.compare(0, 7, "refused") == 0  ? 403
                                         : error.compare(0, 6, "limit:") == 0 ? 429
                                                                              : 502,
                                         where + ": " + error));
        auto pump = std::make_shared<pump_impl>(std::move(c->sock));
        stream_pump::callbacks cb;
        cb.on_data = [c](std::string b) { c->path->send(std::move(b)); };
        cb.on_written = [c](std::size_t n) { c->path->acknowledge(n); };
        cb.on_closed = [self, c](std::string) {
          c->path->close();
          self->forget(c);
        };
        {
          // Started, and handed what came early, before any event sees it:
          // every write is posted to its strand after the tunnel's answer.
          std::lock_guard<std::mutex> lock(c->mu);
          pump->start(std::move(cb), t.tunnel ? "HTTP/1.1 200 Connection established\r\n\r\n" : "",
                      self->idle_ms);
          for (auto& b : c->early)
            pump->write(std::move(b));
          c->early.clear();
          if (c->ended_early)
            pump->close(c->end_reason);
          c->pump = pump;
        }
        if (!t.tunnel)
          c->path->send(t.first);
        if (!extra.empty())
          c->path->send(extra);
      });
    };
    ev.data = [c](std::string b) {
      std::shared_ptr<stream_pump> p;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        if (!(p = c->pump))
          return c->early.push_back(std::move(b));
      }
      p->write(std::move(b));
    };
    ev.acked = [pump_of](std::size_t n) { // only for bytes sent once it started
      if (auto p = pump_of())
        p->acknowledge(n);
    };
    ev.closed = [c](std::string reason) {
      std::shared_ptr<stream_pump> p;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        if (!(p = c->pump)) {
          c->ended_early = true;
          c->end_reason = std::move(reason);
          return;
        }
      }
      p->close(reason);
    };
    c->path = opener(t.host, t.port, std::move(ev));
    if (!c->path)
      refuse(c, refusal(502, where + ": no egress path on this host"));
  }
};

egress_proxy::egress_proxy(io_runtime& io, int listen_fd, egress_opener opener, int idle_ms)
    : impl_(std::make_shared<impl>(io, std::move(opener), idle_ms)) {
  error_code ec;
  impl_->acceptor.assign(tcp::v4(), listen_fd, ec);
  if (!ec)
    impl_->accept();
}

egress_proxy::~egress_proxy() {
  std::set<std::shared_ptr<impl::conn>> conns;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopped = true;
    conns.swap(impl_->conns);
  }
  asio::post(asio_context(impl_->io), [self = impl_, conns] {
    error_code ec;
    self->acceptor.close(ec);
    for (const auto& c : conns) {
      std::shared_ptr<stream_pump> p;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        p = c->pump;
      }
      if (p)
        p->close("the instance ended");
      else
        c->sock.close(ec);
      if (c->path)
        c->path->close();
    }
  });
}

} // namespace troupe::net
