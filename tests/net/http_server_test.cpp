// Round trips, keep-alive, pipelining, threading and stop() of net/http_server.

#include "tests/net/server_fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <stdexcept>

namespace troupe::net::test {
namespace {

std::string header_of(const http_response& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (iequals(h.name, name))
      return h.value;
  return {};
}

using net_http_server = server_fixture;

TEST_F(net_http_server, get_and_post_round_trip) {
  mailbox<http_request> seen;
  start([&](http_request req, http_responder respond) {
    seen.put(req);
    respond(http_response{201, {{"X-Path", std::string(req.path())}}, "got " + req.body});
  });
  auto c = client();

  auto get = c.request("GET", "/hello?x=1");
  EXPECT_EQ(get.status, 201);
  EXPECT_EQ(get.body, "got ");
  EXPECT_EQ(header_of(get, "x-path"), "/hello");
  EXPECT_EQ(header_of(get, "server"), "troupe");
  EXPECT_EQ(header_of(get, "content-length"), "4");
  auto req = seen.take();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->method, "GET");
  EXPECT_EQ(req->query(), "x=1");
  EXPECT_EQ(req->remote_ip, "127.0.0.1");
  EXPECT_NE(req->remote_port, 0);

  auto post = c.request("POST", "/fn", "payload", {{"X-Custom", "v"}});
  EXPECT_EQ(post.body, "got payload");
  req = seen.take();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->header("x-custom"), "v");
  EXPECT_EQ(req->header("CONTENT-LENGTH"), "7");
}

TEST_F(net_http_server, keep_alive_reuses_one_connection_until_close) {
  start([](http_request req, http_responder respond) {
    respond(http_response{200, {}, std::to_string(req.remote_port)});
  });
  auto c = client();
  auto first = c.request("GET", "/").body;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(c.request("GET", "/").body, first);

  auto closing = c.request("GET", "/", {}, {{"Connection", "close"}});
  EXPECT_EQ(closing.body, first);
  EXPECT_TRUE(iequals(header_of(closing, "connection"), "close"));
  EXPECT_NE(c.request("GET", "/").body, first); // reconnected
}

TEST_F(net_http_server, pipelined_requests_are_answered_in_order) {
  mailbox<http_responder> slow;
  mailbox<std::string> events;
  start([&](http_request req, http_responder respond) {
    events.put("called " + req.target);
    if (req.target == "/slow")
      return slow.put(std::move(respond));
    respond(http_response{200, {}, "fast-body"});
  });
  auto answer = std::async(std::launch::async, [&] {
    return raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
  auto respond_slow = slow.take();
  ASSERT_TRUE(respond_slow);
  EXPECT_EQ(events.take(), "called /slow");
  EXPECT_FALSE(events.take(100ms)); // /fast is not read before /slow is answered
  (*respond_slow)(http_response{200, {}, "slow-body"});
  EXPECT_EQ(events.take(), "called /fast");

  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  auto text = answer.get();
  EXPECT_EQ(count_of(text, "HTTP/1.1 200 OK"), 2u) << text;
  ASSERT_NE(text.find("slow-body"), std::string::npos) << text;
  EXPECT_LT(text.find("slow-body"), text.find("fast-body")) << text;
}

TEST_F(net_http_server, handler_may_answer_from_another_thread) {
  start([&](http_request req, http_responder respond) {
    spawn([req = std::move(req), respond = std::move(respond)] {
      std::this_thread::sleep_for(10ms);
      respond(http_response{200, {}, "late " + req.target});
    });
  });
  auto c = client();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.request("GET", "/" + std::to_string(i)).body, "late /" + std::to_string(i));
}

TEST_F(net_http_server, head_gets_length_but_no_body) {
  start([](http_request, http_responder respond) { respond(http_response{200, {}, "12345"}); });
  auto r = client().request("HEAD", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(header_of(r, "content-length"), "5");
}

TEST_F(net_http_server, expect_continue_gets_interim_response) {
  start(echo_handler());
  auto text = raw("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  "Content-Length: 3\r\nConnection: close\r\n\r\nabc");
  EXPECT_EQ(text.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", 0), 0u) << text;
  EXPECT_NE(text.find("POST /e|abc"), std::string::npos) << text;
}

TEST_F(net_http_server, handler_exception_becomes_500) {
  start([](http_request, http_responder) { throw std::runtime_error("boom"); });
  auto r = client().request("GET", "/");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "boom");
}

TEST_F(net_http_server, dropped_responder_closes_connection) {
  mailbox<http_responder> held;
  start([&](http_request req, http_responder respond) {
    if (req.target == "/hold")
      held.put(std::move(respond)); // else: dropped right here
  });
  auto started = clock_type::now();
  EXPECT_EQ(raw("GET /drop HTTP/1.1\r\nHost: x\r\n\r\n", 5s), "");
  EXPECT_LT(clock_type::now() - started, 3s);

  auto answer = std::async(std::launch::async,
                           [&] { return raw("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n", 5s); });
  auto respond = held.take();
  ASSERT_TRUE(respond);
  spawn([r = std::move(*respond)]() mutable { r = nullptr; }); // dropped on another thread
  respond.reset();
  ASSERT_EQ(answer.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(answer.get(), "");
}

TEST_F(net_http_server, stop_with_pending_responder_makes_it_a_no_op) {
  mailbox<http_responder> held;
  std::atomic<int> calls{0};
  start([&](http_request, http_responder respond) {
    ++calls;
    held.put(std::move(respond));
  });
  auto answer =
      std::async(std::launch::async, [&] { return raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5s); });
  auto respond = held.take();
  ASSERT_TRUE(respond);
  server_->stop();
  server_->stop(); // idempotent
  (*respond)(http_response{200, {}, "too late"});
  ASSERT_EQ(answer.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(answer.get(), "");
  EXPECT_THROW(raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1s), std::runtime_error);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(net_http_server, stop_from_inside_handler_does_not_deadlock) {
  mailbox<bool> stopped;
  start([&](http_request, http_responder respond) {
    server_->stop();
    stopped.put(true);
    respond(http_response{}); // a no-op now
  });
  EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 3s), "");
  EXPECT_TRUE(stopped.take());
}

TEST_F(net_http_server, destroying_server_with_open_connections_is_safe) {
  mailbox<http_responder> held;
  start([&](http_request, http_responder respond) { held.put(std::move(respond)); });
  auto answer =
      std::async(std::launch::async, [&] { return raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5s); });
  auto respond = held.take();
  ASSERT_TRUE(respond);
  server_.reset();
  (*respond)(http_response{});
  ASSERT_EQ(answer.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(answer.get(), "");
}

TEST_F(net_http_server, adopts_a_listening_socket) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  server_ = std::make_unique<http_server>(io_, http_limits{}, echo_handler());
  ASSERT_EQ(server_->adopt(fd), "");
  EXPECT_EQ(server_->port(), ntohs(addr.sin_port));
  EXPECT_EQ(client().request("GET", "/a").body, "GET /a|");
}

TEST_F(net_http_server, listen_reports_a_busy_port) {
  start(echo_handler());
  http_server second(io_, http_limits{}, echo_handler());
  auto error = second.listen("127.0.0.1", port());
  EXPECT_NE(error.find(std::to_string(port())), std::string::npos) << error;
}

TEST_F(net_http_server, client_reports_refused_connection) {
  start(echo_handler());
  auto unused = port();
  server_->stop();
  http_client c("127.0.0.1", unused, 1s);
  try {
    c.request("GET", "/");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(unused)), std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace troupe::net::test
