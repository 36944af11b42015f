// The Lambda Runtime API as a runtime inside a real Troupe instance sees it:
// a custom runtime (tests/integration/functions/runtime-probe) records the
// headers of /next, its environment and how the API answers the calls Lambda
// refuses, and answers, fails, oversizes or never answers as asked.
#include "node_process.hpp"

#include "net/base64.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

using namespace troupe;
using namespace troupe::test;

namespace {

std::string probe_zip() {
  return make_zip({{"bootstrap",
                    read_file(std::filesystem::path{TROUPE_SOURCE_DIR} /
                              "tests/integration/functions/runtime-probe/bootstrap"),
                    true}});
}

bool contains(const std::string& body, const std::string& part) {
  return body.find(part) != std::string::npos;
}

long long number_of(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + key.size() + 3));
}

class RuntimeConformance : public ::testing::Test {
protected:
  temp_dir data;
  std::unique_ptr<node_process> node;

  void SetUp() override {
    node = std::make_unique<node_process>(data.path());
    auto r = node->client().request(
        "POST", functions_path, create_body("probe", "provided.al2023", "probe", probe_zip(), 2));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  net::http_response invoke(const std::string& event,
                            const std::vector<net::http_header>& headers = {}) {
    return node->client().request("POST", invoke_path("probe"), event, headers);
  }
};

TEST_F(RuntimeConformance, NextCarriesEveryLambdaRuntimeHeader) {
  auto context = net::base64_encode(R"({"custom":{"who":"test"}})");
  auto before = std::chrono::system_clock::now();
  auto r = invoke(R"({"n":1})", {{"X-Amz-Client-Context", context}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto id = header(r, "x-amzn-RequestId");
  EXPECT_TRUE(contains(r.body, R"("event":{"n":1})")) << r.body;
  EXPECT_TRUE(contains(r.body, "\"lambda-runtime-aws-request-id\":\"" + id + "\"")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("lambda-runtime-invoked-function-arn":)"
                               R"("arn:aws:lambda:local:000000000000:function:probe")"))
      << r.body;
  EXPECT_TRUE(contains(r.body, R"("lambda-runtime-trace-id":"Root=1-)")) << r.body;
  EXPECT_TRUE(
      contains(r.body, R"("lambda-runtime-client-context":"{\"custom\":{\"who\":\"test\"}}")"))
      << r.body;
  EXPECT_FALSE(contains(r.body, "lambda-runtime-cognito-identity")) << "no Cognito callers";
  EXPECT_TRUE(contains(r.body, R"("content-type":"application/json")")) << r.body;
  // The deadline is the function's timeout (2 s) from the start of the invocation.
  auto deadline = std::stoll(r.body.substr(r.body.find("\"lambda-runtime-deadline-ms\":\"") + 30));
  auto start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count();
  EXPECT_GE(deadline, start_ms + 1000) << r.body;
  EXPECT_LE(deadline, start_ms + 2000 + 1000) << r.body;
  EXPECT_LT(number_of(r.body, "now"), deadline);
  // Without a client context there is no such header.
  auto plain = invoke("{}");
  EXPECT_FALSE(contains(plain.body, "lambda-runtime-client-context")) << plain.body;
  // The caller's X-Ray header reaches the runtime; one that is not such a header does not.
  const std::string trace =
      "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
  auto traced = invoke("{}", {{"X-Amzn-Trace-Id", trace}});
  EXPECT_TRUE(contains(traced.body, "\"lambda-runtime-trace-id\":\"" + trace + "\""))
      << traced.body;
  auto odd = invoke("{}", {{"X-Amzn-Trace-Id", "Root=1-x;Sampled=1 \"x\""}});
  EXPECT_TRUE(contains(odd.body, R"("lambda-runtime-trace-id":"Root=1-)")) << odd.body;
  EXPECT_FALSE(contains(odd.body, "Sampled=1 ")) << odd.body;
}

TEST_F(RuntimeConformance, RefusalsAreLambdas) {
  auto r = invoke("{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.body, R"("wrongId":{"status":400,"body":"{\"errorMessage\":\"Invalid )"
                               R"(request ID\",\"errorType\":\"InvalidRequestID\"}"})"))
      << r.body;
  EXPECT_TRUE(contains(r.body, R"("wrongMethod":{"status":405,"allow":"POST"})")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("postNext":405)")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("lateInitError":{"status":403,)")) << r.body;
  EXPECT_TRUE(contains(r.body, "InvalidStateTransition")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("unknownPath":404)")) << r.body;
  // The answers to the first invocation, as the next one reports them (after a
  // pause: a second answer that comes once the next event is out is a 400).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto next = invoke("{}");
  EXPECT_TRUE(contains(next.body, R"("firstAnswer":{"status":202,"body":"{\"status\":\"OK\"}"})"))
      << next.body;
  EXPECT_TRUE(contains(next.body, R"("secondAnswer":{"status":403,)")) << next.body;
}

TEST_F(RuntimeConformance, EnvironmentIsLambdas) {
  auto r = invoke("{}");
  ASSERT_EQ(r.status, 200) << r.body;
  for (const char* kv :
       {R"("_HANDLER":"probe")", R"("AWS_REGION":"local")", R"("AWS_DEFAULT_REGION":"local")",
        R"("AWS_LAMBDA_FUNCTION_NAME":"probe")", R"("AWS_LAMBDA_FUNCTION_MEMORY_SIZE":"128")",
        R"("AWS_LAMBDA_FUNCTION_VERSION":"$LATEST")",
        R"("AWS_LAMBDA_INITIALIZATION_TYPE":"on-demand")",
        R"("AWS_LAMBDA_LOG_GROUP_NAME":"/aws/lambda/probe")",
        R"("AWS_LAMBDA_RUNTIME_API":"127.0.0.1:9001")", R"("LAMBDA_TASK_ROOT":"/var/task")",
        R"("LAMBDA_RUNTIME_DIR":"/var/runtime")", R"("TZ":":UTC")", R"("LD_LIBRARY_PATH":)",
        R"("AWS_LAMBDA_LOG_STREAM_NAME":")", R"("PATH":)", R"("LANG":)"})
    EXPECT_TRUE(contains(r.body, kv)) << kv << " in " << r.body;
  EXPECT_FALSE(contains(r.body, "AWS_EXECUTION_ENV")) << "not for OS-only runtimes";
  EXPECT_FALSE(contains(r.body, "AWS_ACCESS_KEY_ID")) << "Troupe has no execution roles";
}

TEST_F(RuntimeConformance, ErrorTypeReachesTheCaller) {
  auto r = invoke(R"({"mode":"error"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_EQ(r.body, R"({"errorType":"Custom.ProbeError","errorMessage":"probe failed"})");
  auto next = invoke("{}");
  EXPECT_TRUE(contains(next.body, R"("errorAnswer":{"status":202,)")) << next.body;
}

TEST_F(RuntimeConformance, OversizedResponseFailsTheInvocation) {
  auto r = invoke(R"({"mode":"big"})");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_EQ(r.body, R"({"errorMessage":"Response payload size exceeded maximum allowed payload )"
                    R"(size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"})");
  auto next = invoke("{}");
  ASSERT_EQ(next.status, 200);
  EXPECT_TRUE(contains(next.body, R"("bigAnswer":{"status":413,)")) << next.body.substr(0, 2000);
  EXPECT_TRUE(contains(next.body, "RequestEntityTooLarge")) << next.body.substr(0, 2000);
}

TEST_F(RuntimeConformance, DeadlineIsHonoured) {
  auto start = std::chrono::steady_clock::now();
  auto r = invoke(R"({"mode":"hang"})");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_TRUE(contains(r.body, R"("errorType":"Sandbox.Timedout")")) << r.body;
  EXPECT_TRUE(contains(r.body, "Task timed out after 2.00 seconds")) << r.body;
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  EXPECT_LT(took, std::chrono::seconds(8));
  // A new instance takes the next invocation.
  EXPECT_EQ(header(invoke("{}"), "X-Amz-Function-Error"), "");
}

} // namespace
