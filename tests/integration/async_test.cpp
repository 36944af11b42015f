// Asynchronous (Event) invocations end to end on a real node: the durable
// queue answers 202, delivers, retries failures, keeps dead letters that can
// be re-driven, and survives kill -9.
#include "node_process.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

using namespace troupe;
using namespace troupe::test;

namespace {

const std::string& functions = functions_path;

/// The number after "Key": in a flat JSON object (-1 if absent).
long long number_of(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + key.size() + 3));
}

/// A provided-runtime function that answers each event after `seconds`.
std::string slow_echo_zip(int seconds) {
  return make_zip({{"bootstrap",
                    "#!/bin/sh\nset -eu\napi=\"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/"
                    "runtime\"\nwhile true; do\n  event=$(curl -sS -D /tmp/h \"$api/invocation/"
                    "next\")\n  id=$(tr -d '\\r' < /tmp/h | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-"
                    "[Rr]equest-[Ii]d: *//p')\n  sleep " +
                        std::to_string(seconds) +
                        "\n  printf '%s' \"$event\" | curl -sS -X POST --data-binary @- "
                        "\"$api/invocation/$id/response\" > /dev/null\ndone\n",
                    true}});
}

class AsyncTest : public ::testing::Test {
protected:
  temp_dir data;

  void deploy(node_process& node, const std::string& name, const std::string& runtime,
              const std::string& handler, const std::string& zip) {
    auto r = node.client().request("POST", functions, create_body(name, runtime, handler, zip));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static net::http_response send_event(node_process& node, const std::string& name,
                                       const std::string& body) {
    return node.client().request("POST", invoke_path(name), body,
                                 {{"X-Amz-Invocation-Type", "Event"}});
  }

  /// Polls the event queue's figures until `done` holds (bounded); the last body.
  static std::string await_queue(node_process& node,
                                 const std::function<bool(const std::string&)>& done,
                                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    std::string body;
    while (std::chrono::steady_clock::now() < until) {
      auto r = node.client().request("GET", "/troupe/event-queue");
      body = r.body;
      if (r.status == 200 && done(body))
        return body;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the event queue did not get there; last figures: " << body;
    return body;
  }
};

TEST_F(AsyncTest, AnEventIsAnswered202AtOnceAndDelivered) {
  node_process node{data.path()};
  deploy(node, "cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  auto r = send_event(node, "cpp-echo", R"({"n":1})");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(header(r, "x-amzn-RequestId").size(), 36u);
  await_queue(node, [](const std::string& b) {
    return number_of(b, "Delivered") == 1 && number_of(b, "Queued") == 0;
  });
}

TEST_F(AsyncTest, BadEventsAreRefusedAndNothingIsQueued) {
  node_process node{data.path(), {"--ingress.max-async-payload=100"}};
  deploy(node, "cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  auto missing = send_event(node, "no-such-function", "{}");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(header(missing, "x-amzn-ErrorType"), "ResourceNotFoundException") << missing.body;
  auto large = send_event(node, "cpp-echo", "\"" + std::string(200, 'x') + "\"");
  EXPECT_EQ(large.status, 413) << large.body;
  auto bad = send_event(node, "cpp-echo", "{not json");
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto other = node.client().request("POST", invoke_path("cpp-echo"), "{}",
                                     {{"X-Amz-Invocation-Type", "Sometimes"}});
  EXPECT_EQ(other.status, 400) << other.body;
  auto stats = node.client().request("GET", "/troupe/event-queue");
  EXPECT_EQ(number_of(stats.body, "Queued"), 0) << stats.body;
  EXPECT_EQ(number_of(stats.body, "Delivered"), 0) << stats.body;
}

TEST_F(AsyncTest, AFailingEventIsRetriedThenDeadLetteredAndCanBeRedriven) {
  node_process node{data.path(), {"--async.function-error-delay=100ms", "--async.max-retries=2"}};
  deploy(node, "flaky", "python3.11", "handler.handler", read_file(example_zip("python-echo")));
  auto r = send_event(node, "flaky", R"({"fail":"boom"})");
  ASSERT_EQ(r.status, 202) << r.body;
  auto id = header(r, "x-amzn-RequestId");
  auto figures = await_queue(node, [](const std::string& b) {
    return number_of(b, "DeadLettered") == 1 && number_of(b, "Queued") == 0;
  });
  EXPECT_EQ(number_of(figures, "Retried"), 2) << figures;
  EXPECT_EQ(number_of(figures, "Delivered"), 0) << figures;

  auto list = node.client().request("GET", "/troupe/dead-letters?function=flaky");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_NE(list.body.find("\"Id\":\"" + id + "\""), std::string::npos) << list.body;
  EXPECT_NE(list.body.find(R"("Attempts":3)"), std::string::npos) << list.body;
  EXPECT_NE(list.body.find("boom"), std::string::npos) << list.body;
  EXPECT_NE(list.body.find(R"("Payload":"{\"fail\":\"boom\"}")"), std::string::npos) << list.body;
  auto others = node.client().request("GET", "/troupe/dead-letters?function=other");
  EXPECT_EQ(others.body, R"({"DeadLetters":[]})");
  EXPECT_EQ(node.client().request("GET", "/troupe/dead-letters?max-items=0").status, 400);

  // The function is fixed (replaced by one that works); the letter is re-driven.
  ASSERT_EQ(node.client().request("DELETE", functions + "/flaky").status, 204);
  deploy(node, "flaky", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  auto again = node.client().request("POST", "/troupe/dead-letters/" + id + "/redrive");
  EXPECT_EQ(again.status, 200) << again.body;
  await_queue(node, [](const std::string& b) { return number_of(b, "Delivered") == 1; });
  EXPECT_EQ(node.client().request("GET", "/troupe/dead-letters").body, R"({"DeadLetters":[]})");
  EXPECT_EQ(node.client().request("POST", "/troupe/dead-letters/" + id + "/redrive").status, 404);
  EXPECT_EQ(node.client().request("DELETE", "/troupe/dead-letters/" + id).status, 404);
  EXPECT_EQ(node.client().request("GET", "/troupe/dead-letters/" + id + "/redrive").status, 405);
}

TEST_F(AsyncTest, ADeadLetterCanBeRemoved) {
  node_process node{data.path(), {"--async.max-retries=0"}};
  deploy(node, "flaky", "python3.11", "handler.handler", read_file(example_zip("python-echo")));
  auto r = send_event(node, "flaky", R"({"fail":"once"})");
  ASSERT_EQ(r.status, 202) << r.body;
  await_queue(node, [](const std::string& b) { return number_of(b, "DeadLettered") == 1; });
  auto id = header(r, "x-amzn-RequestId");
  EXPECT_EQ(node.client().request("DELETE", "/troupe/dead-letters/" + id).status, 204);
  EXPECT_EQ(node.client().request("GET", "/troupe/dead-letters").body, R"({"DeadLetters":[]})");
}

TEST_F(AsyncTest, AFunctionsEventInvokeConfigSetsItsRetries) {
  // The node retries function errors twice; this function asks for none.
  node_process node{data.path(), {"--async.function-error-delay=100ms"}};
  deploy(node, "flaky", "python3.11", "handler.handler", read_file(example_zip("python-echo")));
  const std::string path = "/2019-09-25/functions/flaky/event-invoke-config";
  EXPECT_EQ(node.client().request("GET", path).status, 404);
  auto put = node.client().request("PUT", path, R"({"MaximumRetryAttempts":0})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find(R"("MaximumRetryAttempts":0)"), std::string::npos) << put.body;
  auto update = node.client().request("POST", path, R"({"MaximumEventAgeInSeconds":600})");
  ASSERT_EQ(update.status, 200) << update.body;
  EXPECT_NE(update.body.find(R"("MaximumRetryAttempts":0,"MaximumEventAgeInSeconds":600)"),
            std::string::npos)
      << "an update keeps what it does not name: " << update.body;
  EXPECT_EQ(node.client().request("PUT", path, R"({"MaximumRetryAttempts":5})").status, 400);
  EXPECT_EQ(node.client()
                .request("PUT", "/2019-09-25/functions/none/event-invoke-config",
                         R"({"MaximumRetryAttempts":1})")
                .status,
            404);

  ASSERT_EQ(send_event(node, "flaky", R"({"fail":"no retry"})").status, 202);
  auto figures = await_queue(node, [](const std::string& b) {
    return number_of(b, "DeadLettered") == 1 && number_of(b, "Queued") == 0;
  });
  EXPECT_EQ(number_of(figures, "Retried"), 0) << figures;
  auto list = node.client().request("GET", "/troupe/dead-letters");
  EXPECT_NE(list.body.find(R"("Attempts":1)"), std::string::npos) << list.body;

  EXPECT_EQ(node.client().request("DELETE", path).status, 204);
  EXPECT_EQ(node.client().request("GET", path).status, 404);
  ASSERT_EQ(send_event(node, "flaky", R"({"fail":"node default"})").status, 202);
  figures = await_queue(node, [](const std::string& b) {
    return number_of(b, "DeadLettered") == 2 && number_of(b, "Queued") == 0;
  });
  EXPECT_EQ(number_of(figures, "Retried"), 2) << "the node's two retries: " << figures;
}

TEST_F(AsyncTest, QueuedEventsSurviveKillNineAndAreDeliveredAfterTheRestart) {
  constexpr int events = 4;
  {
    node_process node{data.path()};
    deploy(node, "slow", "provided", "bootstrap", slow_echo_zip(3));
    for (int i = 0; i < events; ++i)
      ASSERT_EQ(send_event(node, "slow", "{\"n\":" + std::to_string(i) + "}").status, 202);
    node.kill9(); // every event was acknowledged; none can have finished
  }
  node_process node{data.path()};
  await_queue(
      node,
      [](const std::string& b) {
        return number_of(b, "Delivered") == events && number_of(b, "Queued") == 0;
      },
      std::chrono::seconds(60));
}

} // namespace
