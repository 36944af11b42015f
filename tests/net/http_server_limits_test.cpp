// Limits and timeouts of net/http_server: 400, 408, 413, 431 and idle close.

#include "tests/net/server_fixture.hpp"

#include <future>

namespace troupe::net::test {
namespace {

const std::string get_request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Checks the server's error answer: status line, JSON body, headers, close.
void expect_error(const std::string& text, const std::string& status_line,
                  const std::string& error_type) {
  EXPECT_EQ(text.rfind("HTTP/1.1 " + status_line + "\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("x-amzn-ErrorType: " + error_type + "\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Content-Type: application/json\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Connection: close\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\n\r\n{\"Type\":\"User\",\"message\":\""), std::string::npos) << text;
}

class net_http_server_limits : public server_fixture {
protected:
  void SetUp() override {
    limits_.max_body_bytes = 1024;
    limits_.read_timeout = 200ms;
    limits_.idle_timeout = 300ms;
  }

  void start_counting() {
    start(
        [this](http_request req, http_responder respond) {
          ++calls_;
          respond(http_response{200, {}, "ok " + req.body});
        },
        limits_);
  }

  http_limits limits_;
  std::atomic<int> calls_{0};
};

TEST_F(net_http_server_limits, oversized_header_gets_431) {
  start_counting();
  auto text =
      raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n");
  expect_error(text, "431 Request Header Fields Too Large", "RequestHeaderFieldsTooLarge");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(net_http_server_limits, a_long_start_line_counts_against_the_header_limit) {
  // 9 KiB of target and 9 KiB of fields: each under the 16 KiB limit, not together.
  start_counting();
  auto text = raw("GET /" + std::string(9 * 1024, 'p') +
                  " HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9 * 1024, 'a') + "\r\n\r\n");
  expect_error(text, "431 Request Header Fields Too Large", "RequestHeaderFieldsTooLarge");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(net_http_server_limits, oversized_body_gets_413) {
  start_counting();
  auto text =
      raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'b'));
  expect_error(text, "413 Payload Too Large", "RequestEntityTooLargeException");

  auto chunked = raw("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "800\r\n" +
                     std::string(0x800, 'c') + "\r\n0\r\n\r\n");
  expect_error(chunked, "413 Payload Too Large", "RequestEntityTooLargeException");

  auto via_client = client().request("POST", "/", std::string(4096, 'd'));
  EXPECT_EQ(via_client.status, 413);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(net_http_server_limits, body_within_limit_is_accepted) {
  start_counting();
  EXPECT_EQ(client().request("POST", "/", std::string(1024, 'e')).status, 200);
}

TEST_F(net_http_server_limits, malformed_requests_get_400) {
  start_counting();
  for (const std::string bytes :
       {"GARBAGE\r\n\r\n", "GET / FTP/1.1\r\nHost: x\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"}) {
    SCOPED_TRACE(bytes);
    expect_error(raw(bytes), "400 Bad Request", "BadRequest");
  }
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(net_http_server_limits, stalled_request_gets_408) {
  start_counting();
  auto started = clock_type::now();
  expect_error(raw("GET / HTTP/1.1\r\nHost: x\r\n"), "408 Request Timeout", "RequestTimeout");
  expect_error(raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"),
               "408 Request Timeout", "RequestTimeout");
  EXPECT_LT(clock_type::now() - started, 3s);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(net_http_server_limits, idle_connection_is_closed_silently) {
  start_counting();
  auto started = clock_type::now();
  EXPECT_EQ(raw("", 5s), "");
  auto after_one = raw(get_request, 5s); // keep-alive, then idle
  EXPECT_EQ(count_of(after_one, "HTTP/1.1 200 OK"), 1u) << after_one;
  EXPECT_EQ(count_of(after_one, "HTTP/1.1"), 1u) << after_one;
  EXPECT_LT(clock_type::now() - started, 3s);
}

TEST_F(net_http_server_limits, client_reconnects_after_idle_close) {
  start(
      [](http_request req, http_responder respond) {
        respond(http_response{200, {}, std::to_string(req.remote_port)});
      },
      limits_);
  auto c = client();
  auto first = c.request("GET", "/").body;
  std::this_thread::sleep_for(limits_.idle_timeout + 300ms);
  EXPECT_NE(c.request("GET", "/").body, first);
}

TEST_F(net_http_server_limits, http10_request_is_answered_and_closed) {
  start_counting();
  auto started = clock_type::now();
  auto text = raw("GET / HTTP/1.0\r\n\r\n", 5s);
  EXPECT_EQ(text.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << text;
  EXPECT_LT(clock_type::now() - started, limits_.idle_timeout);
}

TEST_F(net_http_server_limits, slow_handler_is_not_timed_out) {
  mailbox<http_responder> held;
  start([&](http_request, http_responder respond) { held.put(std::move(respond)); }, limits_);
  auto answer = std::async(std::launch::async, [&] { return client().request("GET", "/").status; });
  auto respond = held.take();
  ASSERT_TRUE(respond);
  std::this_thread::sleep_for(500ms); // past read_timeout and idle_timeout
  (*respond)(http_response{204, {}, {}});
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(answer.get(), 204);
}

} // namespace
} // namespace troupe::net::test
