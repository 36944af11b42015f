// AWS Lambda's Runtime Interface Client for Node.js (npm aws-lambda-ric,
// installed by deploy/install-deps.sh) running unmodified handlers in real
// Troupe instances: the nodejs-ric runtime variant, selected by the function's
// TROUPE_RUNTIME_CLIENT=aws-lambda-ric.
#include "node_process.hpp"

#include "net/base64.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace troupe;
using namespace troupe::test;

namespace {

const std::filesystem::path ric_addon = std::filesystem::path{TROUPE_SOURCE_DIR} /
                                        "runtime/runtimes/nodejs-ric/node_modules/aws-lambda-ric/"
                                        "dist/rapid-client.node";

/// The CreateFunction body of a nodejs20.x function run by the RIC.
std::string ric_function(const std::string& name, int timeout_s) {
  auto zip =
      make_zip({{"index.js", read_file(std::filesystem::path{TROUPE_SOURCE_DIR} /
                                       "tests/integration/functions/ric-context/index.js")}});
  auto body = create_body(name, "nodejs20.x", "index.handler", zip, timeout_s);
  return "{\"Environment\":{\"Variables\":{\"TROUPE_RUNTIME_CLIENT\":\"aws-lambda-ric\"}}," +
         body.substr(1);
}

bool contains(const std::string& body, const std::string& part) {
  return body.find(part) != std::string::npos;
}

/// The integer after "key": in a JSON text (-1 if absent).
long long number_of(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + key.size() + 3));
}

class RicTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(ric_addon))
        << "aws-lambda-ric is not installed: run deploy/install-deps.sh (" << ric_addon << ")";
  }

  temp_dir data;
};

TEST_F(RicTest, HandlerGetsItsEventAndContext) {
  node_process node{data.path()};
  auto created = node.client().request("POST", functions_path, ric_function("ric-context", 5));
  ASSERT_EQ(created.status, 201) << created.body;
  auto context = net::base64_encode(R"({"custom":{"k":"v"},"client":{"installation_id":"i-1"}})");
  auto r = node.client().request("POST", invoke_path("ric-context"), R"({"hello":"ric"})",
                                 {{"X-Amz-Client-Context", context}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "") << r.body;
  EXPECT_TRUE(contains(r.body, R"("event":{"hello":"ric"})")) << r.body;
  EXPECT_TRUE(contains(r.body, "\"awsRequestId\":\"" + header(r, "x-amzn-RequestId") + "\""))
      << r.body;
  EXPECT_TRUE(contains(
      r.body, R"("invokedFunctionArn":"arn:aws:lambda:local:000000000000:function:ric-context")"))
      << r.body;
  EXPECT_TRUE(contains(r.body, R"("functionName":"ric-context")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("functionVersion":"$LATEST")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("memoryLimitInMB":"128")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("logGroupName":"/aws/lambda/ric-context")")) << r.body;
  auto remaining = number_of(r.body, "remainingMs");
  EXPECT_GT(remaining, 0) << r.body;
  EXPECT_LE(remaining, 5000) << r.body;
  EXPECT_TRUE(contains(r.body, R"("clientContext":{"custom":{"k":"v"},)"
                               R"("client":{"installation_id":"i-1"}})"))
      << r.body;
  EXPECT_TRUE(contains(r.body, R"("traceId":"Root=1-)")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("underRic":true)")) << r.body;
  // Warm, without a client context: the context has none.
  auto warm = node.client().request("POST", invoke_path("ric-context"), R"({"n":2})");
  ASSERT_EQ(warm.status, 200) << warm.body;
  EXPECT_TRUE(contains(warm.body, R"("clientContext":null)")) << warm.body;
  EXPECT_TRUE(contains(warm.body, R"("event":{"n":2})")) << warm.body;
}

TEST_F(RicTest, ThrownErrorIsAnUnhandledFunctionError) {
  node_process node{data.path()};
  ASSERT_EQ(node.client().request("POST", functions_path, ric_function("ric-throws", 5)).status,
            201);
  auto r = node.client().request("POST", invoke_path("ric-throws"), R"({"fail":"no luck"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_TRUE(contains(r.body, R"("errorType":"TypeError")")) << r.body;
  EXPECT_TRUE(contains(r.body, R"("errorMessage":"no luck")")) << r.body;
  // The RIC carries on in the same instance.
  auto after = node.client().request("POST", invoke_path("ric-throws"), R"({"ok":1})");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(header(after, "X-Amz-Function-Error"), "");
}

TEST_F(RicTest, OversizedResultFailsTheInvocationAsLambdaDoes) {
  node_process node{data.path()};
  ASSERT_EQ(node.client().request("POST", functions_path, ric_function("ric-big", 10)).status, 201);
  auto r = node.client().request("POST", invoke_path("ric-big"), R"({"big":7000000})");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_TRUE(contains(r.body, R"("errorType":"Function.ResponseSizeTooLarge")")) << r.body;
  auto after = node.client().request("POST", invoke_path("ric-big"), R"({"ok":1})");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(header(after, "X-Amz-Function-Error"), "") << after.body;
}

TEST_F(RicTest, ClientContextMustBeBase64Json) {
  node_process node{data.path()};
  ASSERT_EQ(node.client().request("POST", functions_path, ric_function("ric-cc", 5)).status, 201);
  for (const auto& bad : {std::string{"not base64!"}, net::base64_encode("[1,2]"),
                          net::base64_encode("{broken"), std::string(3584, 'A')}) {
    auto r =
        node.client().request("POST", invoke_path("ric-cc"), "{}", {{"X-Amz-Client-Context", bad}});
    EXPECT_EQ(r.status, 400) << bad.substr(0, 40);
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), "InvalidRequestContentException");
  }
}

} // namespace
