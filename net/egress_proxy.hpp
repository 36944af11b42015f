#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::net {

class io_runtime;

/// How much one direction of a stream may have in flight (sent on, not yet
/// written out at the far end): the reader stops until acknowledgements
/// bring it back under this, so a slow end never grows buffers without bound.
/// 2 MiB, as TCP's own autotuned buffers: measured with troupe-bench egress,
/// one stream through the gateway beside the host went from 0.2 of a direct
/// loopback stream at 256 KiB to 0.4 (through a gateway node of its own,
/// from 0.1 to 0.14, where BASP is the bound). An idle connection holds none
/// of it (see stream_read_max).
constexpr std::size_t stream_window = 2 * 1024 * 1024;

/// The most one read takes from a socket: one message on its way. Larger
/// reads mean fewer messages (each a hand-off between threads, or over BASP
/// one frame that holds up the others to that node while it is sent).
constexpr std::size_t stream_read_max = 512 * 1024;

/// One TCP connection pumped to and from a peer that is not a socket (an
/// actor on another node, say), flow-controlled by acknowledgements.
/// Thread-safe: every call is posted to the connection's strand.
/// Callbacks run on an io thread: `on_data` with bytes read (reading pauses
/// while stream_window of them are unacknowledged), `on_written` with bytes
/// the socket took of those given to write() (the peer's acknowledgement),
/// `on_closed` once, with "" for an orderly end or why not.
class stream_pump : public std::enable_shared_from_this<stream_pump> {
public:
  struct callbacks {
    std::function<void(std::string bytes)> on_data;
    std::function<void(std::size_t n)> on_written;
    std::function<void(std::string reason)> on_closed;
  };
  /// Connects to `address` (IPv4 or IPv6 text) and `port`; `done` gets the
  /// pump, or nullptr and why not, within `timeout_ms`.
  static void connect(io_runtime& io, const std::string& address, uint16_t port, int timeout_ms,
                      std::function<void(std::shared_ptr<stream_pump>, std::string error)> done);
  virtual ~stream_pump() = default;

  /// Starts reading (`first`, if any, is written first); idle_ms without a
  /// byte either way closes it (0: never).
  virtual void start(callbacks cb, std::string first = {}, int idle_ms = 0) = 0;
  virtual void write(std::string bytes) = 0;
  virtual void acknowledge(std::size_t n) = 0; ///< the peer wrote n of our bytes out
  /// Ends it: the socket is shut down and closed, on_closed(reason) runs once.
  virtual void close(std::string reason = {}) = 0;
};

/// What the egress proxy asks for each connection a function opens: a path
/// to `host`:`port` for `tenant`. The opener answers `opened` once ("" or why
/// not, as text the function is shown), then the path carries bytes both
/// ways. All functions may be called on any thread.
class egress_path {
public:
  struct events {
    std::function<void(std::string error)> opened;
    std::function<void(std::string bytes)> data;
    std::function<void(std::size_t n)> acked;
    std::function<void(std::string reason)> closed;
  };
  virtual ~egress_path() = default;
  virtual void send(std::string bytes) = 0;
  virtual void acknowledge(std::size_t n) = 0;
  virtual void close() = 0;
};

using egress_opener = std::function<std::unique_ptr<egress_path>(
    const std::string& host, uint16_t port, egress_path::events events)>;

/// The proxy a sandbox's functions reach at HTTP_PROXY/HTTPS_PROXY: on
/// `listen_fd` (a socket inside the sandbox's network namespace) it takes
/// `CONNECT host:port` (answered 200 once the path is open) and plain
/// requests in absolute form (`GET http://host/...`, passed on in origin
/// form), and carries each stream over a path from `opener`. A path that
/// does not open is answered with a JSON body naming the destination: 403
/// when its error starts with "refused", 429 with "limit:", else 502; a
/// malformed request with 400. Stops (closing every connection) when
/// destroyed.
class egress_proxy {
public:
  egress_proxy(io_runtime& io, int listen_fd, egress_opener opener, int idle_ms = 300'000);
  ~egress_proxy();
  egress_proxy(const egress_proxy&) = delete;
  egress_proxy& operator=(const egress_proxy&) = delete;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

/// Resolves `host` (a name, or an address as it is) to its addresses, on
/// `io`; `done` gets them, or none and why not.
void resolve(io_runtime& io, const std::string& host,
             std::function<void(std::vector<std::string> addresses, std::string error)> done);

/// A proxy request's head as parsed: where to and what to send first.
struct proxy_target {
  std::string host;
  uint16_t port = 0;
  bool tunnel = false; ///< CONNECT: nothing is sent on but the client's bytes
  std::string first;   ///< for a plain request: its head in origin form
};

/// A destination port in decimal, 1 to 65535 (and nothing else in `s`).
bool parse_port(std::string_view s, uint16_t& port);

/// Parses the head (through the blank line) of a proxy request; "" and
/// `out` set, or why it is refused.
std::string parse_proxy_head(std::string_view head, proxy_target& out);

} // namespace troupe::net
