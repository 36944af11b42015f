// The per-instance Lambda Runtime API (runtime/runtime_api.cpp) on a loopback
// socket: the headers of /next, the answers a runtime gets, and what is
// reported to the instance. Every wait is bounded.
#include "net/http_client.hpp"
#include "net/io_runtime.hpp"
#include "runtime/runtime_api.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using troupe::net::http_client;
using troupe::net::http_response;
using troupe::runtime::runtime_api;
using troupe::runtime::runtime_event;

namespace {

/// What the endpoint reported, one line per callback: "response <id> <payload>",
/// "error <id> <type> <payload>", "init <type> <payload>".
class reports {
public:
  troupe::runtime::runtime_api_callbacks callbacks() {
    troupe::runtime::runtime_api_callbacks cb;
    cb.on_response = [this](std::string id, std::string p) { add("response " + id + " " + p); };
    cb.on_error = [this](std::string id, std::string type, std::string p) {
      add("error " + id + " " + type + " " + p);
    };
    cb.on_init_error = [this](std::string type, std::string p) { add("init " + type + " " + p); };
    return cb;
  }

  /// The next report, or "" after 5 s.
  std::string next() {
    std::unique_lock lock{mtx_};
    if (!cv_.wait_for(lock, 5s, [&] { return !items_.empty(); }))
      return "";
    auto first = items_.front();
    items_.erase(items_.begin());
    return first;
  }

  /// Whether nothing more was reported within a short while.
  bool quiet() {
    std::unique_lock lock{mtx_};
    return !cv_.wait_for(lock, 200ms, [&] { return !items_.empty(); });
  }

private:
  void add(std::string line) {
    std::lock_guard lock{mtx_};
    items_.push_back(std::move(line));
    cv_.notify_all();
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::string> items_;
};

std::string header(const http_response& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (troupe::net::iequals(h.name, name))
      return h.value;
  return "";
}

bool has_header(const http_response& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (troupe::net::iequals(h.name, name))
      return true;
  return false;
}

class RuntimeApi : public ::testing::Test {
protected:
  static constexpr std::size_t limit = 4096; ///< a small response limit, for the 413 cases

  troupe::net::io_runtime io{1};
  reports seen;
  uint16_t port = 0;
  std::unique_ptr<runtime_api> api;

  void SetUp() override {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    api = std::make_unique<runtime_api>(io, fd, seen.callbacks(), limit);
  }

  void TearDown() override { api.reset(); }

  http_client client() { return http_client{"127.0.0.1", port, 5s}; }

  static runtime_event event(std::string id) {
    runtime_event ev;
    ev.request_id = std::move(id);
    ev.deadline_ms = 1'700'000'003'000;
    ev.function_arn = "arn:aws:lambda:local:000000000000:function:f";
    ev.trace_id = troupe::runtime::xray_trace_id(ev.request_id, 1'700'000'000'000);
    ev.payload = R"({"n":1})";
    return ev;
  }

  /// Delivers `id` and fetches it with /next, as a runtime would.
  http_response fetch(http_client& c, const std::string& id) {
    EXPECT_TRUE(api->deliver(event(id)));
    return c.request("GET", "/2018-06-01/runtime/invocation/next");
  }

  static std::string inv(const std::string& id, const std::string& what) {
    return "/2018-06-01/runtime/invocation/" + id + "/" + what;
  }
};

TEST_F(RuntimeApi, NextCarriesEveryLambdaRuntimeHeader) {
  auto ev = event("8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  ev.client_context = R"({"custom":{"k":"v"}})";
  ev.cognito_identity = R"({"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"})";
  ASSERT_TRUE(api->deliver(ev));
  auto c = client();
  auto r = c.request("GET", "/2018-06-01/runtime/invocation/next");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"n":1})");
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  EXPECT_EQ(header(r, "Lambda-Runtime-Aws-Request-Id"), "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  EXPECT_EQ(header(r, "Lambda-Runtime-Deadline-Ms"), "1700000003000");
  EXPECT_EQ(header(r, "Lambda-Runtime-Invoked-Function-Arn"),
            "arn:aws:lambda:local:000000000000:function:f");
  EXPECT_EQ(header(r, "Lambda-Runtime-Trace-Id"),
            "Root=1-6553f100-8476a536e9f411e897392dfe;Parent=97392dfe598c3fcd;Sampled=0");
  EXPECT_EQ(header(r, "Lambda-Runtime-Client-Context"), ev.client_context);
  EXPECT_EQ(header(r, "Lambda-Runtime-Cognito-Identity"), ev.cognito_identity);
}

TEST_F(RuntimeApi, OptionalHeadersOnlyWhenPresent) {
  auto c = client();
  auto r = fetch(c, "a1");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(has_header(r, "Lambda-Runtime-Client-Context"));
  EXPECT_FALSE(has_header(r, "Lambda-Runtime-Cognito-Identity"));
  EXPECT_TRUE(has_header(r, "Lambda-Runtime-Trace-Id"));
}

TEST_F(RuntimeApi, NextWaitsForTheEvent) {
  auto waiting = std::async(std::launch::async, [&] {
    auto c = client();
    return c.request("GET", "/2018-06-01/runtime/invocation/next");
  });
  EXPECT_EQ(waiting.wait_for(200ms), std::future_status::timeout);
  ASSERT_TRUE(api->deliver(event("w1")));
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  auto r = waiting.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "Lambda-Runtime-Aws-Request-Id"), "w1");
  EXPECT_FALSE(api->deliver(event("w2"))) << "one event outstanding at a time";
}

TEST_F(RuntimeApi, ResponseIsAcceptedAndReported) {
  auto c = client();
  fetch(c, "r1");
  auto r = c.request("POST", inv("r1", "response"), R"({"ok":true})");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, R"({"status":"OK"})");
  EXPECT_EQ(seen.next(), R"(response r1 {"ok":true})");
  EXPECT_TRUE(api->deliver(event("r2"))) << "answered: the next event may come";
}

TEST_F(RuntimeApi, UnknownRequestIdIs400AndNotReported) {
  auto c = client();
  fetch(c, "u1");
  for (const char* what : {"response", "error"}) {
    auto r = c.request("POST", inv("nope", what), "{}");
    EXPECT_EQ(r.status, 400) << what;
    EXPECT_EQ(r.body, R"({"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"})");
  }
  EXPECT_TRUE(seen.quiet());
  EXPECT_EQ(c.request("POST", inv("u1", "response"), "1").status, 202) << "still outstanding";
}

TEST_F(RuntimeApi, SecondAnswerIs403InvalidStateTransition) {
  auto c = client();
  fetch(c, "s1");
  ASSERT_EQ(c.request("POST", inv("s1", "response"), "1").status, 202);
  EXPECT_EQ(seen.next(), "response s1 1");
  for (const char* what : {"response", "error"}) {
    auto r = c.request("POST", inv("s1", what), "2");
    EXPECT_EQ(r.status, 403) << what;
    EXPECT_NE(r.body.find(R"("errorType":"InvalidStateTransition")"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(seen.quiet());
}

TEST_F(RuntimeApi, ErrorCarriesItsErrorType) {
  auto c = client();
  fetch(c, "e1");
  auto r = c.request("POST", inv("e1", "error"), R"({"errorType":"TypeError"})",
                     {{"Lambda-Runtime-Function-Error-Type", "TypeError"}});
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, R"({"status":"OK"})");
  EXPECT_EQ(seen.next(), R"(error e1 TypeError {"errorType":"TypeError"})");
  fetch(c, "e2");
  EXPECT_EQ(c.request("POST", inv("e2", "error"), "").status, 202);
  EXPECT_EQ(seen.next(), "error e2 Unhandled ") << "no header: Unhandled";
}

TEST_F(RuntimeApi, InitErrorOnlyBeforeTheFirstNext) {
  auto c = client();
  auto r = c.request("POST", "/2018-06-01/runtime/init/error", R"({"errorType":"Bad"})",
                     {{"Lambda-Runtime-Function-Error-Type", "Runtime.Bad"}});
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(seen.next(), R"(init Runtime.Bad {"errorType":"Bad"})");
  fetch(c, "i1");
  auto late = c.request("POST", "/2018-06-01/runtime/init/error", "{}");
  EXPECT_EQ(late.status, 403);
  EXPECT_NE(late.body.find("InvalidStateTransition"), std::string::npos) << late.body;
  EXPECT_TRUE(seen.quiet());
}

TEST_F(RuntimeApi, WrongMethodIs405WithAllow) {
  auto c = client();
  auto next = c.request("POST", "/2018-06-01/runtime/invocation/next", "{}");
  EXPECT_EQ(next.status, 405);
  EXPECT_EQ(header(next, "Allow"), "GET");
  auto resp = c.request("GET", inv("x", "response"));
  EXPECT_EQ(resp.status, 405);
  EXPECT_EQ(header(resp, "Allow"), "POST");
  auto init = c.request("PUT", "/2018-06-01/runtime/init/error", "{}");
  EXPECT_EQ(init.status, 405);
  EXPECT_EQ(header(init, "Allow"), "POST");
  EXPECT_TRUE(seen.quiet());
}

TEST_F(RuntimeApi, UnknownPathsAre404) {
  auto c = client();
  for (const char* path :
       {"/2018-06-01/runtime/invocation/x/other", "/2018-06-01/runtime/foo", "/ping",
        "/2018-06-01/runtime/invocation/a/b/response", "/2020-01-01/runtime/invocation/next"}) {
    auto r = c.request("POST", path, "{}");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_NE(r.body.find("errorType"), std::string::npos) << path;
  }
}

TEST_F(RuntimeApi, ResponseAtTheLimitIsAccepted) {
  auto c = client();
  fetch(c, "l1");
  std::string body(limit, 'x');
  EXPECT_EQ(c.request("POST", inv("l1", "response"), body).status, 202);
  EXPECT_EQ(seen.next(), "response l1 " + body);
}

TEST_F(RuntimeApi, OversizedResponseIs413AndFailsTheInvocation) {
  auto c = client();
  fetch(c, "o1");
  auto r = c.request("POST", inv("o1", "response"), std::string(limit + 1, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"errorMessage":"Exceeded maximum allowed payload size (4096 bytes).",)"
                    R"("errorType":"RequestEntityTooLarge"})");
  EXPECT_EQ(seen.next(),
            "error o1 Function.ResponseSizeTooLarge "
            R"({"errorMessage":"Response payload size exceeded maximum allowed )"
            R"(payload size (4096 bytes).","errorType":"Function.ResponseSizeTooLarge"})");
  // The runtime carries on, on a new connection, with the next event.
  auto again = client();
  EXPECT_EQ(fetch(again, "o2").status, 200);
}

TEST_F(RuntimeApi, OversizedChunkedResponseIs413Too) {
  auto c = client();
  fetch(c, "c1");
  std::string chunk(limit, 'y');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  std::string wire = "POST " + inv("c1", "response") +
                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\n" +
                     chunk + "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n";
  auto raw = http_client::raw_exchange("127.0.0.1", port, wire, 5s);
  EXPECT_EQ(raw.rfind("HTTP/1.1 413", 0), 0u) << raw.substr(0, 200);
  EXPECT_EQ(seen.next().rfind("error c1 Function.ResponseSizeTooLarge", 0), 0u);
}

TEST(XrayTraceId, TheCallersHeaderIsKeptWhenItIsOne) {
  using troupe::runtime::trace_id_for;
  const std::string caller =
      "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  EXPECT_EQ(trace_id_for(caller, "0123abcd-4567-89ef-0123-456789abcdef", 1'000'000), caller);
  auto fresh = troupe::runtime::xray_trace_id("0123abcd-4567-89ef-0123-456789abcdef", 1'000'000);
  for (std::string bad : {std::string{}, std::string{"Sampled=1"}, caller + "\r\nX-Evil: 1",
                          caller + " x", "Root=1-" + std::string(300, 'a')})
    EXPECT_EQ(trace_id_for(bad, "0123abcd-4567-89ef-0123-456789abcdef", 1'000'000), fresh) << bad;
}

TEST(XrayTraceId, HasLambdasShape) {
  auto id = troupe::runtime::xray_trace_id("0123abcd-4567-89ef-0123-456789abcdef", 1'000'000);
  EXPECT_EQ(id, "Root=1-000003e8-0123abcd456789ef01234567;Parent=0123456789abcdef;Sampled=0");
}

} // namespace
