#include "net/http_request_reader.hpp"

#include "net/detail/http_wire.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>

namespace troupe::net {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using error_code = boost::system::error_code;

/// A SyncReadStream over bytes in memory: at most `max_read` bytes per read,
/// then end of file, as a peer that sent everything and shut down.
class memory_stream {
public:
  memory_stream(std::string_view bytes, std::size_t max_read) : rest_(bytes), max_read_(max_read) {}

  template <class MutableBuffers> std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    auto n = read_some(buffers, ec);
    if (ec)
      throw boost::system::system_error(ec);
    return n;
  }

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    if (rest_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    auto want = max_read_ == 0 ? rest_.size() : std::min(rest_.size(), max_read_);
    auto n = asio::buffer_copy(buffers, asio::buffer(rest_.data(), want));
    rest_.remove_prefix(n);
    return n;
  }

private:
  std::string_view rest_;
  std::size_t max_read_;
};

http_response to_response(detail::beast_response res) {
  http_response out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res)
    out.set(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

} // namespace

http_read_result read_http_requests(std::string_view bytes, const http_limits& limits,
                                    std::size_t max_read) {
  http_read_result out;
  memory_stream stream(bytes, max_read);
  boost::beast::flat_buffer buffer;
  const boost::asio::ip::tcp::endpoint peer;
  for (;;) {
    // The server's wait_for_request (a first read unless pipelined bytes are
    // buffered), read_header, on_header (100-continue changes no byte read)
    // and read_body, in that order.
    error_code ec;
    if (buffer.size() == 0) {
      auto n = stream.read_some(buffer.prepare(detail::first_read_bytes), ec);
      if (ec)
        return out;
      buffer.commit(n);
    }
    detail::request_parser parser;
    detail::apply_limits(parser, limits);
    auto header_bytes = http::read_header(stream, buffer, parser, ec);
    if (!ec)
      if (auto reply = detail::header_over_limit(header_bytes, limits)) { // as on_header
        out.refusal = to_response(detail::make_error_response(*reply));
        return out;
      }
    if (!ec)
      http::read(stream, buffer, parser, ec);
    if (ec == http::error::body_limit && limits.hand_over_oversized) {
      // The server's hand_over_oversized: the head alone, then the connection closes.
      auto req = detail::to_request(parser.release(), peer);
      req.body.clear();
      req.body_too_large = true;
      out.requests.push_back(std::move(req));
      return out;
    }
    if (ec) {
      if (auto reply = detail::classify_read_error(ec, limits))
        out.refusal = to_response(detail::make_error_response(*reply));
      return out;
    }
    auto msg = parser.release();
    bool keep_alive = msg.keep_alive();
    out.requests.push_back(detail::to_request(std::move(msg), peer));
    if (!keep_alive)
      return out;
  }
}

} // namespace troupe::net
