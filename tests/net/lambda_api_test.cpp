#include "net/base64.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"

#include <gtest/gtest.h>

using namespace troupe::net;

namespace {

std::string body_with(const std::string& fields) {
  return R"({"FunctionName":"f","Runtime":"provided","Handler":"b",)" + fields +
         R"("Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}})";
}

std::string header(const http_response& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (iequals(h.name, name))
      return h.value;
  return "";
}

} // namespace

TEST(Base64, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data += static_cast<char>(i * 7);
    auto back = base64_decode(base64_encode(data));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
}

TEST(Base64, RefusesInvalidInput) {
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Zm=v"));
  EXPECT_EQ(*base64_decode("Zm9v\nYmFy"), "foobar");
}

TEST(JsonWriter, EscapesAndSeparates) {
  json_writer w;
  w.begin_object().field("a", "q\"\n\x01").field("n", 3).field("b", true);
  w.key("l").begin_array().value(1).null().end_array().end_object();
  EXPECT_EQ(w.str(), R"({"a":"q\"\n\u0001","n":3,"b":true,"l":[1,null]})");
}

TEST(PutFunctionConcurrency, ParsesTheReservationAndRefusesTheRest) {
  int32_t n = -1;
  EXPECT_FALSE(parse_put_concurrency(R"({"ReservedConcurrentExecutions":5})", n));
  EXPECT_EQ(n, 5);
  EXPECT_FALSE(parse_put_concurrency(R"({"ReservedConcurrentExecutions":0})", n));
  EXPECT_EQ(n, 0);
  for (const char* bad :
       {"", "[]", "{}", R"({"ReservedConcurrentExecutions":-1})",
        R"({"ReservedConcurrentExecutions":"5"})", R"({"ReservedConcurrentExecutions":1.5})",
        R"({"ReservedConcurrentExecutions":5,"Other":1})"}) {
    auto err = parse_put_concurrency(bad, n);
    ASSERT_TRUE(err) << bad;
    EXPECT_EQ(err->status, 400) << bad;
  }
}

TEST(EventInvokeConfig, ParsesBothSettingsAndRefusesTheRest) {
  int32_t retries = 9, age = 9;
  EXPECT_FALSE(parse_event_invoke_config(
      R"({"MaximumRetryAttempts":0,"MaximumEventAgeInSeconds":3600})", retries, age));
  EXPECT_EQ(retries, 0);
  EXPECT_EQ(age, 3600);
  EXPECT_FALSE(parse_event_invoke_config(R"({"MaximumRetryAttempts":2})", retries, age));
  EXPECT_EQ(retries, 2);
  EXPECT_EQ(age, -1) << "absent";
  EXPECT_FALSE(parse_event_invoke_config("{}", retries, age));
  EXPECT_EQ(retries, -1);
  for (const char* bad :
       {"", "[]", R"({"MaximumRetryAttempts":3})", R"({"MaximumRetryAttempts":-1})",
        R"({"MaximumEventAgeInSeconds":59})", R"({"MaximumEventAgeInSeconds":21601})",
        R"({"MaximumRetryAttempts":"1"})", R"({"DestinationConfig":{}})", R"({"Other":1})"}) {
    auto err = parse_event_invoke_config(bad, retries, age);
    ASSERT_TRUE(err) << bad;
    EXPECT_EQ(err->status, 400) << bad;
  }
  troupe::net::function_config cfg;
  cfg.name = "f";
  cfg.last_modified_ms = 1500;
  cfg.async_max_retries = 1;
  EXPECT_EQ(render_event_invoke_config(cfg, {}),
            R"({"FunctionArn":"arn:aws:lambda:local:000000000000:function:f:$LATEST",)"
            R"("LastModified":1.500,"MaximumRetryAttempts":1})");
}

TEST(ErrorResponse, A429NamesItsReason) {
  auto r = error_response(
      {429, "TooManyRequestsException", "Rate Exceeded.", "CallerRateLimitExceeded"});
  EXPECT_EQ(r.body,
            R"({"Type":"User","message":"Rate Exceeded.","Reason":"CallerRateLimitExceeded"})");
  EXPECT_EQ(error_response(not_found("x")).body.find("Reason"), std::string::npos);
}

TEST(CreateFunction, ParsesAValidRequest) {
  create_function_request out;
  auto err = parse_create_function(
      body_with(
          R"("MemorySize":256,"Timeout":30,"Environment":{"Variables":{"K1":"v"}},"Role":"x",)"),
      out);
  ASSERT_FALSE(err) << err->message;
  EXPECT_EQ(out.config.name, "f");
  EXPECT_EQ(out.config.memory_mb, 256);
  EXPECT_EQ(out.config.timeout_s, 30);
  EXPECT_EQ(out.config.environment.at("K1"), "v");
  EXPECT_EQ(out.archive.substr(0, 2), "PK");
}

TEST(CreateFunction, RefusesBadFields) {
  auto refused = [](const std::string& body) {
    create_function_request out;
    auto err = parse_create_function(body, out);
    return err && err->status == 400 && err->type == "InvalidParameterValueException";
  };
  EXPECT_TRUE(refused("[]"));
  EXPECT_TRUE(refused("{"));
  EXPECT_TRUE(refused(body_with(R"("MemorySize":100,)")));
  EXPECT_TRUE(refused(body_with(R"("MemorySize":10368,)")));
  EXPECT_TRUE(refused(body_with(R"("MemorySize":"128",)")));
  EXPECT_TRUE(refused(body_with(R"("Timeout":901,)")));
  EXPECT_TRUE(refused(body_with(R"("Environment":{"Variables":{"AWS_REGION":"x"}},)")));
  EXPECT_TRUE(refused(body_with(R"("Environment":{"Variables":{"1BAD":"x"}},)")));
  EXPECT_TRUE(refused(body_with(R"("PackageType":"Image",)")));
  EXPECT_TRUE(refused(R"({"FunctionName":"f","Runtime":"provided"})"));
  EXPECT_TRUE(refused(R"({"FunctionName":"f","Runtime":"java8","Code":{"ZipFile":"UEs="}})"));
  EXPECT_TRUE(refused(
      R"({"FunctionName":"f","Runtime":"python3","Handler":"nodot","Code":{"ZipFile":"UEs="}})"));
  EXPECT_TRUE(refused(R"({"FunctionName":"f","Runtime":"provided","Code":{"S3Bucket":"b"}})"));
  EXPECT_TRUE(refused(R"({"FunctionName":"a/b","Runtime":"provided","Code":{"ZipFile":"UEs="}})"));
}

TEST(CreateFunction, NamesAndRuntimes) {
  EXPECT_TRUE(valid_function_name("my-func_1"));
  EXPECT_FALSE(valid_function_name(""));
  EXPECT_FALSE(valid_function_name(std::string(65, 'a')));
  EXPECT_EQ(runtime_family("provided.al2023"), "provided");
  EXPECT_EQ(runtime_family("python3.12"), "python3");
  EXPECT_EQ(runtime_family("nodejs20.x"), "nodejs");
  EXPECT_EQ(runtime_family("nodejs"), "");
  EXPECT_EQ(runtime_family("nodejs2a.x"), "");
  EXPECT_EQ(runtime_family("java21"), "");
}

TEST(ErrorResponse, HasLambdaShape) {
  auto r = error_response(not_found("Function not found: f"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(header(r, "x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(r.body, R"({"Type":"User","message":"Function not found: f"})");
}

TEST(FunctionUrl, EventHasPayloadFormat2) {
  http_request req;
  req.method = "POST";
  req.target = "/fn/f/a/b?x=1&y=%20z&x=2";
  req.headers = {
      {"Host", "h"}, {"Cookie", "a=1; b=2"}, {"Content-Type", "application/octet-stream"}};
  req.body = std::string("\x00\x01", 2);
  auto ev = function_url_event(req, "/a/b", "rid", 1234);
  EXPECT_NE(ev.find(R"("version":"2.0")"), std::string::npos);
  EXPECT_NE(ev.find(R"("rawPath":"/a/b")"), std::string::npos);
  EXPECT_NE(ev.find(R"("rawQueryString":"x=1&y=%20z&x=2")"), std::string::npos);
  EXPECT_NE(ev.find(R"("queryStringParameters":{"x":"1,2","y":" z"})"), std::string::npos) << ev;
  EXPECT_NE(ev.find(R"("cookies":["a=1","b=2"])"), std::string::npos) << ev;
  EXPECT_NE(ev.find(R"("host":"h")"), std::string::npos);
  EXPECT_NE(ev.find(R"("body":"AAE=","isBase64Encoded":true)"), std::string::npos) << ev;
  EXPECT_TRUE(valid_json(ev));
}

TEST(FunctionUrl, ResponseMapping) {
  auto r = function_url_response(
      R"({"statusCode":201,"headers":{"X-A":"1"},"cookies":["c=1"],"body":"aGk=","isBase64Encoded":true})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(header(r, "X-A"), "1");
  EXPECT_EQ(header(r, "Set-Cookie"), "c=1");
  auto inferred = function_url_response(R"({"a":1})");
  EXPECT_EQ(inferred.status, 200);
  EXPECT_EQ(inferred.body, R"({"a":1})");
  EXPECT_EQ(function_url_response("not json").status, 502);
  EXPECT_EQ(function_url_response(R"({"statusCode":"x"})").status, 502);
}

TEST(Json, Validation) {
  EXPECT_TRUE(valid_json("{}"));
  EXPECT_TRUE(valid_json("[1,2]"));
  EXPECT_TRUE(valid_json("\"s\""));
  EXPECT_FALSE(valid_json("{"));
  EXPECT_FALSE(valid_json("{} x"));
}
