// libFuzzer target: the bytes a client sends to http_server, read as the server
// reads them (net/http_request_reader.hpp: the same Beast parser and limits,
// chunked bodies, pipelining, malformed requests and the 400/413/431 answers),
// then each request turned into a function-URL event. Reading the stream in
// pieces must give the handler what reading it whole gives.
//
// Input: one option byte, then the bytes as sent. Option bits 0-2 choose how
// many bytes one read returns (the stream arrives in pieces), bits 3-4 the
// limits (the server's defaults or small ones the fuzzer can reach), bit 5
// whether an oversized request goes to the handler (hand_over_oversized).

#include "tests/fuzz/fuzz_check.hpp"

#include "net/http_request_reader.hpp"
#include "net/lambda_api.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace troupe::fuzz {
namespace {

using net::http_limits;

http_limits limits_for(unsigned choice) {
  http_limits l; // the server's defaults
  switch (choice) {
  case 1:
    l.max_header_bytes = 256;
    l.max_body_bytes = 1024;
    break;
  case 2:
    l.max_header_bytes = 64;
    l.max_body_bytes = 16;
    break;
  case 3:
    l.max_header_bytes = 1024;
    l.max_body_bytes = 0;
    break;
  default:
    break;
  }
  return l;
}

bool no_line_breaks(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void check_request(const net::http_request& req, const http_limits& limits) {
  FUZZ_CHECK(req.body.size() <= limits.max_body_bytes);
  FUZZ_CHECK(is_token(req.method));
  FUZZ_CHECK(!req.target.empty());
  FUZZ_CHECK(no_line_breaks(req.target) && req.target.find(' ') == std::string::npos);
  for (const auto& h : req.headers) {
    FUZZ_CHECK(is_token(h.name));
    FUZZ_CHECK(no_line_breaks(h.value));
  }
}

/// Whether every text the event copies from `req` is valid UTF-8 (JSON is
/// UTF-8: other bytes cannot make a valid document).
bool event_inputs_are_utf8(const net::http_request& req) {
  bool ok = simdjson::validate_utf8(req.target) && simdjson::validate_utf8(req.method) &&
            simdjson::validate_utf8(req.body);
  for (const auto& h : req.headers)
    ok = ok && simdjson::validate_utf8(h.name) && simdjson::validate_utf8(h.value);
  for (const auto& [k, v] : net::query_parameters(req.query()))
    ok = ok && simdjson::validate_utf8(k) && simdjson::validate_utf8(v);
  return ok;
}

void check_refusal(const net::http_response& r) {
  FUZZ_CHECK(r.status == 400 || r.status == 413 || r.status == 431);
  FUZZ_CHECK(net::valid_json(r.body));
  bool typed = false;
  for (const auto& h : r.headers)
    typed = typed || (net::iequals(h.name, "x-amzn-ErrorType") && !h.value.empty());
  FUZZ_CHECK(typed);
}

bool same(const net::http_request& a, const net::http_request& b) {
  if (a.method != b.method || a.target != b.target || a.body != b.body ||
      a.body_too_large != b.body_too_large || a.headers.size() != b.headers.size())
    return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i)
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value)
      return false;
  return true;
}

/// The same requests. The refusal may differ: which fault of a malformed
/// request Beast meets first (a bad start line, the header limit, the end of
/// the stream before the header's end) depends on the pieces, as Beast checks
/// the first piece's start line at once and later ones only once the
/// header's end has arrived.
bool same_requests(const net::http_read_result& a, const net::http_read_result& b) {
  if (a.requests.size() != b.requests.size())
    return false;
  for (std::size_t i = 0; i < a.requests.size(); ++i)
    if (!same(a.requests[i], b.requests[i]))
      return false;
  return true;
}

} // namespace
} // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace troupe;
  if (size < 1)
    return 0;
  static constexpr std::array<std::size_t, 8> reads{0, 1, 2, 3, 7, 16, 64, 512};
  auto limits = fuzz::limits_for((data[0] >> 3) & 3);
  limits.hand_over_oversized = (data[0] >> 5) & 1;
  auto bytes = fuzz::as_text(data + 1, size - 1);
  auto result = net::read_http_requests(bytes, limits, reads[data[0] & 7]);
  for (const auto& req : result.requests) {
    fuzz::check_request(req, limits);
    if (req.body_too_large) // handed over without its body, and the connection closes
      FUZZ_CHECK(limits.hand_over_oversized && req.body.empty() &&
                 &req == &result.requests.back() && !result.refusal);
    auto event = net::function_url_event(req, req.path(), "fuzz-request", 1700000000000);
    if (fuzz::event_inputs_are_utf8(req))
      FUZZ_CHECK(net::valid_json(event));
  }
  if (result.refusal)
    fuzz::check_refusal(*result.refusal);
  // However the stream is cut into pieces, the handler gets the same requests:
  // compared with a header limit out of reach, as Beast applies max_header_bytes
  // to the start line and to the fields apart when they arrive in one piece,
  // and to the two together when the start line arrives cut (so a header of up
  // to twice the limit passes or not, depending on the pieces).
  if (const auto max_read = reads[data[0] & 7]; max_read != 0) {
    auto wide = limits;
    wide.max_header_bytes = std::max(limits.max_header_bytes, bytes.size() + 1);
    FUZZ_CHECK(fuzz::same_requests(net::read_http_requests(bytes, wide, max_read),
                                   net::read_http_requests(bytes, wide)));
  }
  return 0;
}
