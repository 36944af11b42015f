// Authentication and tenancy end to end on a real node: every request signed
// with AWS Signature Version 4 by a tenant's key from the tenants file, and
// each tenant's functions out of the others' sight and reach.
#include "node_process.hpp"

#include "net/sigv4.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono;

namespace {

struct key {
  std::string id, secret;
};
const key alpha{"AKIDALPHA00000000001", "alpha-secret-0000000001"};
const key beta{"AKIDBETA000000000001", "beta-secret-00000000001"};
const key ops{"AKIDOPS0000000000001", "ops-secret-000000000001"};

int64_t now_s() {
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

class AuthTest : public ::testing::Test {
protected:
  temp_dir data;
  std::unique_ptr<node_process> node;

  void SetUp() override {
    auto file = data.path() / "tenants.json";
    std::ofstream{file} << R"({"tenants": [
      {"name": "alpha", "keys": [{"id": ")"
                        << alpha.id << R"(", "secret": ")" << alpha.secret << R"("}]},
      {"name": "beta", "keys": [{"id": ")"
                        << beta.id << R"(", "secret": ")" << beta.secret << R"("}]},
      {"name": "ops", "operator": true, "keys": [{"id": ")"
                        << ops.id << R"(", "secret": ")" << ops.secret << R"("}]}]})";
    node = std::make_unique<node_process>(
        data.path() / "node", std::vector<std::string>{"--auth.tenants-file=" + file.string(),
                                                       "--node.region=us-east-1"});
  }

  /// `method target` signed by `k` (as the SDKs sign, `skew_s` off the clock).
  net::http_response send(const key& k, const std::string& method, const std::string& target,
                          const std::string& body = {}, int64_t skew_s = 0,
                          const std::string& region = "us-east-1") {
    net::http_request req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.headers = {{"Host", "127.0.0.1:" + std::to_string(node->port())},
                   {"Content-Type", "application/json"}};
    net::sigv4::sign(req, k.id, k.secret, region, "lambda", now_s() + skew_s);
    return node->client().request(method, target, body, req.headers);
  }

  void deploy(const key& k, const std::string& name, const std::string& reply) {
    auto zip = make_zip({{"fn.py", "def handler(e, c):\n  return {'from': '" + reply + "'}\n"}});
    auto r = send(k, "POST", functions_path, create_body(name, "python3.11", "fn.handler", zip));
    ASSERT_EQ(r.status, 201) << r.body;
  }
};

TEST_F(AuthTest, UnsignedAndWronglySignedRequestsAreRefusedInLambdasShape) {
  auto unsigned_r = node->client().request("GET", functions_path + "/");
  EXPECT_EQ(unsigned_r.status, 403);
  EXPECT_EQ(header(unsigned_r, "x-amzn-ErrorType"), "MissingAuthenticationTokenException");
  EXPECT_NE(unsigned_r.body.find("\"message\""), std::string::npos) << unsigned_r.body;

  auto wrong_secret = send({alpha.id, "not-the-secret-000000"}, "GET", functions_path + "/");
  EXPECT_EQ(wrong_secret.status, 403);
  EXPECT_EQ(header(wrong_secret, "x-amzn-ErrorType"), "InvalidSignatureException");

  auto unknown = send({"AKIDNOBODY0000000001", "whatever-secret-00001"}, "GET", functions_path);
  EXPECT_EQ(unknown.status, 403);
  EXPECT_EQ(header(unknown, "x-amzn-ErrorType"), "UnrecognizedClientException");

  auto stale = send(alpha, "GET", functions_path, {}, -6 * 60);
  EXPECT_EQ(stale.status, 403) << stale.body;
  EXPECT_NE(stale.body.find("Signature expired"), std::string::npos) << stale.body;

  auto other_region = send(alpha, "GET", functions_path, {}, 0, "eu-west-1");
  EXPECT_EQ(other_region.status, 403) << other_region.body;

  // The signature covers the body: the same headers with another body fail.
  net::http_request req;
  req.method = "POST";
  req.target = invoke_path("f");
  req.body = "{\"a\":1}";
  req.headers = {{"Host", "127.0.0.1:" + std::to_string(node->port())}};
  net::sigv4::sign(req, alpha.id, alpha.secret, "us-east-1", "lambda", now_s());
  auto tampered = node->client().request("POST", req.target, "{\"a\":2}", req.headers);
  EXPECT_EQ(tampered.status, 403);
  EXPECT_EQ(header(tampered, "x-amzn-ErrorType"), "InvalidSignatureException");

  EXPECT_EQ(node->client().request("GET", "/healthz").status, 200) << "health needs no key";
  EXPECT_EQ(send(alpha, "GET", functions_path + "/").status, 200);
}

TEST_F(AuthTest, TenantsHaveTheirOwnFunctionsAndCannotReachEachOthers) {
  deploy(alpha, "shared-name", "alpha");
  deploy(beta, "shared-name", "beta"); // each tenant has its own namespace
  deploy(alpha, "only-alpha", "alpha");

  auto a = send(alpha, "POST", invoke_path("shared-name"), "{}");
  auto b = send(beta, "POST", invoke_path("shared-name"), "{}");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_NE(a.body.find("\"alpha\""), std::string::npos) << a.body;
  EXPECT_NE(b.body.find("\"beta\""), std::string::npos) << b.body;

  auto fn = functions_path + "/only-alpha";
  for (auto [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", fn, ""},
           {"GET", fn + "/configuration", ""},
           {"POST", fn + "/invocations", "{}"},
           {"PUT", fn + "/configuration", "{\"Timeout\":5}"},
           {"DELETE", fn, ""},
           {"PUT", "/2017-10-31/functions/only-alpha/concurrency",
            "{\"ReservedConcurrentExecutions\":1}"}}) {
    auto r = send(beta, method, target, body);
    EXPECT_EQ(r.status, 404) << method << " " << target << ": " << r.body;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), "ResourceNotFoundException");
  }
  auto listed = send(beta, "GET", functions_path + "/").body;
  EXPECT_EQ(listed.find("only-alpha"), std::string::npos) << listed;
  EXPECT_NE(listed.find("shared-name"), std::string::npos) << listed;
  EXPECT_EQ(send(alpha, "GET", fn).status, 200) << "beta's attempts changed nothing";

  // Only an operator's key reaches Troupe's own routes.
  EXPECT_EQ(send(alpha, "GET", "/troupe/hosts").status, 403);
  auto hosts = send(ops, "GET", "/troupe/hosts");
  EXPECT_EQ(hosts.status, 200) << hosts.body;
}

/// The value of "field":"..." in a JSON text, or "".
std::string string_field(const std::string& json, const std::string& field) {
  auto at = json.find("\"" + field + "\":\"");
  if (at == std::string::npos)
    return {};
  at += field.size() + 4;
  return json.substr(at, json.find('"', at) - at);
}

TEST_F(AuthTest, AnOperatorMakesAndRevokesATenantsKeys) {
  auto made = send(ops, "POST", "/troupe/tenants/gamma/keys");
  ASSERT_EQ(made.status, 201) << made.body;
  key gamma{string_field(made.body, "AccessKeyId"), string_field(made.body, "SecretAccessKey")};
  EXPECT_EQ(gamma.id.size(), 20u) << made.body;
  EXPECT_EQ(gamma.secret.size(), 40u) << made.body;
  EXPECT_EQ(send(alpha, "POST", "/troupe/tenants/gamma/keys").status, 403) << "operators only";

  deploy(gamma, "g", "gamma");
  EXPECT_EQ(send(gamma, "POST", invoke_path("g"), "{}").status, 200);
  auto tenants = send(ops, "GET", "/troupe/tenants");
  ASSERT_EQ(tenants.status, 200) << tenants.body;
  EXPECT_NE(tenants.body.find(gamma.id), std::string::npos) << tenants.body;
  EXPECT_EQ(tenants.body.find(gamma.secret), std::string::npos) << "never a secret";
  EXPECT_EQ(tenants.body.find(alpha.secret), std::string::npos) << "never a secret";

  EXPECT_EQ(send(ops, "DELETE", "/troupe/tenants/beta/keys/" + gamma.id).status, 404)
      << "a key is deleted under its own tenant only";
  EXPECT_EQ(send(ops, "DELETE", "/troupe/tenants/gamma/keys/" + gamma.id).status, 204);
  auto revoked = send(gamma, "GET", functions_path + "/");
  EXPECT_EQ(revoked.status, 403) << revoked.body;
  EXPECT_EQ(header(revoked, "x-amzn-ErrorType"), "UnrecognizedClientException");
}

TEST_F(AuthTest, KeysSurviveARestartAndABadTenantsFileStopsTheNode) {
  deploy(alpha, "kept", "alpha");
  ASSERT_EQ(node->stop(), 0);
  // Without the file, the keys it stored sign requests still.
  node = std::make_unique<node_process>(
      data.path() / "node",
      std::vector<std::string>{"--node.region=us-east-1", "--auth.key-cache-ttl=1s"});
  EXPECT_EQ(send(alpha, "POST", invoke_path("kept"), "{}").status, 200);
  ASSERT_EQ(node->stop(), 0);

  auto bad = data.path() / "bad.json";
  std::ofstream{bad} << R"({"tenants": [{"name": "x", "keys": [{"id": "short", "secret": "s"}]}]})";
  EXPECT_THROW(node_process(data.path() / "node", {"--auth.tenants-file=" + bad.string()}),
               std::runtime_error);
}

} // namespace
