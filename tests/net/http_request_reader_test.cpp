// net/http_request_reader: the server's way of reading a connection, from memory.

#include "net/http_request_reader.hpp"

#include <gtest/gtest.h>

namespace troupe::net {
namespace {

TEST(net_http_request_reader, pipelined_requests_until_one_closes) {
  auto r = read_http_requests("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
                              "GET /never HTTP/1.1\r\n\r\n",
                              http_limits{});
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].target, "/a");
  EXPECT_EQ(r.requests[1].method, "POST");
  EXPECT_EQ(r.requests[1].query(), "q=1");
  EXPECT_EQ(r.requests[1].body, "abc");
  EXPECT_EQ(r.requests[2].header("connection"), "close");
  EXPECT_FALSE(r.refusal);
}

TEST(net_http_request_reader, pieces_of_any_size_give_the_same_requests) {
  const std::string bytes = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
  for (std::size_t max_read : {0, 1, 2, 7, 64}) {
    auto r = read_http_requests(bytes, http_limits{}, max_read);
    ASSERT_EQ(r.requests.size(), 1u) << max_read;
    EXPECT_EQ(r.requests[0].body, "Wikipedia") << max_read;
  }
}

TEST(net_http_request_reader, the_header_limit_holds_however_the_bytes_arrive) {
  // A start line and fields each under the limit but together over it: Beast
  // alone let this through when it arrived whole, and refused it in pieces.
  http_limits limits;
  limits.max_header_bytes = 1024;
  auto bytes = "GET /" + std::string(700, 'p') + " HTTP/1.1\r\nX-Long: " + std::string(700, 'a') +
               "\r\n\r\n";
  for (std::size_t max_read : {0, 1, 100}) {
    auto r = read_http_requests(bytes, limits, max_read);
    EXPECT_TRUE(r.requests.empty()) << max_read;
    ASSERT_TRUE(r.refusal) << max_read;
    EXPECT_EQ(r.refusal->status, 431) << max_read;
  }
  auto fits = "GET / HTTP/1.1\r\nX-Long: " + std::string(900, 'a') + "\r\n\r\n";
  EXPECT_EQ(read_http_requests(fits, limits).requests.size(), 1u);
}

TEST(net_http_request_reader, limits_and_malformed_requests_are_refused) {
  http_limits limits;
  limits.max_header_bytes = 64;
  limits.max_body_bytes = 4;
  auto big_header =
      read_http_requests("GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n", limits);
  ASSERT_TRUE(big_header.refusal);
  EXPECT_EQ(big_header.refusal->status, 431);
  auto big_body = read_http_requests("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", limits);
  ASSERT_TRUE(big_body.refusal);
  EXPECT_EQ(big_body.refusal->status, 413);
  auto bad = read_http_requests("G@T / HTTP/1.1\r\n\r\n", limits);
  ASSERT_TRUE(bad.refusal);
  EXPECT_EQ(bad.refusal->status, 400);
  EXPECT_NE(bad.refusal->body.find("\"message\":\"malformed request"), std::string::npos);
  EXPECT_TRUE(bad.requests.empty());
}

TEST(net_http_request_reader, oversized_request_is_handed_over_when_asked) {
  http_limits limits;
  limits.max_body_bytes = 4;
  limits.hand_over_oversized = true;
  auto r = read_http_requests(
      "POST /fn/f HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n", limits);
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_TRUE(r.requests[0].body_too_large);
  EXPECT_EQ(r.requests[0].body, "");
  EXPECT_FALSE(r.refusal);
}

TEST(net_http_request_reader, an_incomplete_request_is_dropped) {
  auto r = read_http_requests(
      "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", http_limits{});
  EXPECT_EQ(r.requests.size(), 1u);
  EXPECT_FALSE(r.refusal);
}

} // namespace
} // namespace troupe::net
