#pragma once

#include "net/http_server.hpp"
#include "net/http_types.hpp"

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace troupe::net {

/// What http_server makes of the bytes one connection sends.
struct http_read_result {
  std::vector<http_request> requests;   ///< each complete request, in order, as the handler gets it
  std::optional<http_response> refusal; ///< the 4xx the server answers before closing, if any
};

/// Reads `bytes` as http_server reads a connection, without a socket: the same
/// Beast parser with the same limits, the same conversion to http_request, the
/// same error answers (400, 413, 431) or, with `hand_over_oversized`, the head
/// of an oversized request (body dropped, `body_too_large` set). Requests
/// follow one another while each keeps the connection alive (pipelining);
/// reading stops at the first refusal, at a request that closes the
/// connection, or where the bytes end (an incomplete request is dropped, as
/// when the peer goes away). Each read returns at most `max_read` bytes (0: as
/// many as the server asks for), as a socket delivers a stream in pieces.
/// Timeouts are not modelled. For tests and fuzzing.
http_read_result read_http_requests(std::string_view bytes, const http_limits& limits,
                                    std::size_t max_read = 0);

} // namespace troupe::net
