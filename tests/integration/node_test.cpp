// End-to-end tests of one all-in-one troupe-node: deploy through the Lambda
// API, invoke real sandboxed functions, restart, and refuse bad input.
#include "node_process.hpp"

#include "net/base64.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <thread>

using namespace troupe;
using namespace troupe::test;

namespace {

const std::string& functions = functions_path;

class NodeTest : public ::testing::Test {
protected:
  temp_dir data;

  void deploy(node_process& node, const std::string& name, const std::string& runtime,
              const std::string& handler, const std::string& zip, int timeout_s = 10) {
    auto r = node.client().request("POST", functions,
                                   create_body(name, runtime, handler, zip, timeout_s));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  void deploy_examples(node_process& node) {
    deploy(node, "shell-echo", "provided", "bootstrap", read_file(example_zip("shell-echo")));
    deploy(node, "cpp-echo", "provided.al2023", "bootstrap", read_file(example_zip("cpp-echo")));
    deploy(node, "python-echo", "python3.11", "handler.handler",
           read_file(example_zip("python-echo")));
    deploy(node, "node-echo", "nodejs20.x", "index.handler", read_file(example_zip("node-echo")));
  }
};

TEST_F(NodeTest, DeploysAndInvokesEveryExample) {
  node_process node{data.path()};
  deploy_examples(node);
  for (auto name : {"shell-echo", "cpp-echo"}) {
    auto r = node.client().request("POST", invoke_path(name), R"({"hello":"world","n":1})");
    EXPECT_EQ(r.status, 200) << name << ": " << r.body;
    EXPECT_EQ(r.body, R"({"hello":"world","n":1})") << name;
    EXPECT_EQ(header(r, "X-Amz-Function-Error"), "") << name;
  }
  auto r = node.client().request("POST", invoke_path("python-echo"), R"({"hello":"world"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("echo": {"hello": "world"})"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("function": "python-echo")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("memory_mb": "128")"), std::string::npos) << r.body;
  auto js = node.client().request("POST", invoke_path("node-echo"), R"({"hello":"world"})");
  EXPECT_EQ(js.status, 200) << js.body;
  EXPECT_NE(js.body.find(R"("echo":{"hello":"world"})"), std::string::npos) << js.body;
  EXPECT_NE(js.body.find(R"("function":"node-echo")"), std::string::npos) << js.body;
  EXPECT_NE(js.body.find(R"("memory_mb":"128")"), std::string::npos) << js.body;
}

TEST_F(NodeTest, ManagementApiListsGetsAndDeletes) {
  node_process node{data.path()};
  deploy(node, "cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  auto got = node.client().request("GET", functions + "/cpp-echo");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_NE(got.body.find(R"("FunctionName":"cpp-echo")"), std::string::npos);
  EXPECT_NE(got.body.find(R"("FunctionArn":"arn:aws:lambda:local:000000000000:function:cpp-echo")"),
            std::string::npos);
  auto list = node.client().request("GET", functions + "/");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(R"("Functions":[{)"), std::string::npos) << list.body;
  auto again = node.client().request(
      "POST", functions,
      create_body("cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo"))));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(header(again, "x-amzn-ErrorType"), "ResourceConflictException");
  EXPECT_EQ(node.client().request("POST", invoke_path("cpp-echo"), "{}").status, 200);
  EXPECT_EQ(node.client().request("DELETE", functions + "/cpp-echo").status, 204);
  auto gone = node.client().request("POST", invoke_path("cpp-echo"), "{}");
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_EQ(header(gone, "x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(node.client().request("DELETE", functions + "/cpp-echo").status, 404);
}

TEST_F(NodeTest, FunctionsSurviveSigkillAndRestart) {
  {
    node_process node{data.path()};
    deploy_examples(node);
    ASSERT_EQ(node.client().request("POST", invoke_path("cpp-echo"), "{}").status, 200);
    node.kill9();
  }
  node_process node{data.path()};
  for (auto name : {"shell-echo", "cpp-echo", "python-echo", "node-echo"}) {
    auto r = node.client().request("POST", invoke_path(name), R"({"after":"restart"})");
    EXPECT_EQ(r.status, 200) << name << ": " << r.body;
    EXPECT_NE(r.body.find("restart"), std::string::npos) << name << ": " << r.body;
  }
}

TEST_F(NodeTest, FunctionErrorsAnswer200WithFunctionErrorHeader) {
  node_process node{data.path()};
  deploy_examples(node);
  auto raised = node.client().request("POST", invoke_path("python-echo"), R"({"fail":"boom"})");
  EXPECT_EQ(raised.status, 200);
  EXPECT_EQ(header(raised, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(raised.body.find(R"("errorType": "ValueError")"), std::string::npos) << raised.body;
  EXPECT_NE(raised.body.find("boom"), std::string::npos);
  auto thrown = node.client().request("POST", invoke_path("node-echo"), R"({"fail":"bang"})");
  EXPECT_EQ(thrown.status, 200);
  EXPECT_EQ(header(thrown, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(thrown.body.find(R"("errorType":"Error")"), std::string::npos) << thrown.body;
  EXPECT_NE(thrown.body.find("bang"), std::string::npos) << thrown.body;

  auto crashed = node.client().request("POST", invoke_path("cpp-echo"), R"({"crash":true})");
  EXPECT_EQ(crashed.status, 200);
  EXPECT_EQ(header(crashed, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(crashed.body.find("Runtime.ExitError"), std::string::npos) << crashed.body;
  EXPECT_NE(crashed.body.find("exit status 3"), std::string::npos) << crashed.body;
  // The node keeps serving: a new instance takes the next request.
  auto after = node.client().request("POST", invoke_path("cpp-echo"), R"({"ok":1})");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, R"({"ok":1})");
}

TEST_F(NodeTest, TimeoutKillsTheInstanceAndNamesTheTimeout) {
  node_process node{data.path()};
  auto zip = make_zip({{"bootstrap",
                        "#!/bin/sh\napi=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\n"
                        "curl -sS $api/invocation/next > /dev/null\nsleep 60 & sleep 60\n",
                        true}});
  deploy(node, "sleeper", "provided", "bootstrap", zip, 1);
  auto t0 = std::chrono::steady_clock::now();
  auto r = node.client().request("POST", invoke_path("sleeper"), "{}");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(r.body.find("Task timed out after 1.00 seconds"), std::string::npos) << r.body;
  EXPECT_LT(took, std::chrono::seconds(20)); // bounded, not a speed check
}

TEST_F(NodeTest, OutOfMemoryEndsOnlyThatInvocation) {
  node_process node{data.path()};
  auto zip = make_zip({{"hog.py", "def handler(e, c):\n  b = bytearray(e['mb'] * 1024 * 1024)\n"
                                  "  return {'len': len(b)}\n"}});
  deploy(node, "hog", "python3", "hog.handler", zip);
  auto small = node.client().request("POST", invoke_path("hog"), R"({"mb":16})");
  EXPECT_EQ(small.body, R"({"len": 16777216})");
  auto big = node.client().request("POST", invoke_path("hog"), R"({"mb":400})");
  EXPECT_EQ(big.status, 200);
  EXPECT_EQ(header(big, "X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(big.body.find("Runtime.OutOfMemory"), std::string::npos) << big.body;
  // The node and the function keep serving.
  EXPECT_EQ(node.client().request("POST", invoke_path("hog"), R"({"mb":16})").body,
            R"({"len": 16777216})");
  EXPECT_EQ(node.client().request("GET", "/healthz").status, 200);
  // A larger MemorySize comes from its own pool, with its own limit.
  auto roomy = node.client().request("POST", functions,
                                     create_body("roomy", "python3", "hog.handler", zip, 10, 512));
  ASSERT_EQ(roomy.status, 201) << roomy.body;
  auto fits = node.client().request("POST", invoke_path("roomy"), R"({"mb":300})");
  EXPECT_EQ(fits.body, R"({"len": 314572800})");
  EXPECT_EQ(header(fits, "X-Amz-Function-Error"), "");
}

TEST_F(NodeTest, InitErrorIsReportedAsAFunctionError) {
  node_process node{data.path()};
  struct bad_handler {
    const char *name, *runtime, *handler, *file, *code;
  };
  for (auto b : {bad_handler{"badhandler", "python3", "missing_module.handler", "app.py",
                             "def handler(e, c):\n  return 1\n"},
                 bad_handler{"badjs", "nodejs20.x", "missing.handler", "app.js",
                             "exports.handler = async () => 1;\n"}}) {
    deploy(node, b.name, b.runtime, b.handler, make_zip({{b.file, b.code}}));
    auto r = node.client().request("POST", invoke_path(b.name), "{}");
    EXPECT_EQ(r.status, 200) << b.name;
    EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled") << b.name;
    EXPECT_NE(r.body.find("Runtime.ImportModuleError"), std::string::npos) << r.body;
  }
}

TEST_F(NodeTest, WarmInstancesAreReusedAndIdleOnesReclaimed) {
  node_process node{data.path(), {"--router.keep-alive=1s"}};
  auto zip = make_zip({{"counter.py", "calls = 0\ndef handler(e, c):\n  global calls\n"
                                      "  calls += 1\n  return {'calls': calls}\n"}});
  deploy(node, "counter", "python3", "counter.handler", zip);
  EXPECT_EQ(node.client().request("POST", invoke_path("counter"), "{}").body, R"({"calls": 1})");
  EXPECT_EQ(node.client().request("POST", invoke_path("counter"), "{}").body, R"({"calls": 2})");
  std::this_thread::sleep_for(std::chrono::milliseconds(3500)); // keep-alive 1 s + a tick
  EXPECT_EQ(node.client().request("POST", invoke_path("counter"), "{}").body, R"({"calls": 1})");
}

TEST_F(NodeTest, ConfigFileSetsHostCapacity) {
  auto ini = data.path() / "node.ini";
  std::ofstream{ini} << "[host]\nmemory-mb=128\n";
  node_process node{data.path() / "node", {"--config-file=" + ini.string()}};
  auto cpp = read_file(example_zip("cpp-echo"));
  auto big = node.client().request("POST", functions,
                                   create_body("big", "provided", "bootstrap", cpp, 10, 256));
  ASSERT_EQ(big.status, 201) << big.body;
  auto r = node.client().request("POST", invoke_path("big"), "{}");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(r.body.find("256 MB"), std::string::npos) << r.body;
  deploy(node, "small", "provided", "bootstrap", cpp);
  EXPECT_EQ(node.client().request("POST", invoke_path("small"), "{}").status, 200);
}

TEST_F(NodeTest, ConcurrentInvocationsAllSucceed) {
  node_process node{data.path()};
  deploy(node, "cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      net::http_client c{"127.0.0.1", node.port()};
      for (int i = 0; i < 10; ++i) {
        auto body = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
        auto r = c.request("POST", invoke_path("cpp-echo"), body);
        if (r.status == 200 && r.body == body)
          ++ok;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(NodeTest, FunctionUrlMapsEventAndResponse) {
  node_process node{data.path()};
  deploy_examples(node);
  auto r = node.client().request("GET", "/fn/python-echo/some/path?x=1&x=2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("rawPath": "/some/path")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("x": "1,2")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("method": "GET")"), std::string::npos) << r.body;
  // The event's requestId is the invocation's request id.
  auto field = [&](const std::string& key) {
    auto at = r.body.find("\"" + key + "\": \"");
    return at == std::string::npos ? std::string{} : r.body.substr(at + key.size() + 5, 36);
  };
  EXPECT_EQ(field("requestId"), field("request_id")) << r.body;
  EXPECT_EQ(field("request_id").size(), 36u);
  auto zip = make_zip({{"web.py", "def handler(e, c):\n  return {'statusCode': 201, "
                                  "'headers': {'X-Test': 'yes', 'Content-Type': 'text/plain'}, "
                                  "'body': 'made ' + e['rawPath']}\n"}});
  deploy(node, "web", "python3", "web.handler", zip);
  auto w = node.client().request("POST", "/fn/web/thing", "payload");
  EXPECT_EQ(w.status, 201);
  EXPECT_EQ(w.body, "made /thing");
  EXPECT_EQ(header(w, "X-Test"), "yes");
}

TEST_F(NodeTest, BadInputGetsClearLambdaErrors) {
  node_process node{data.path()};
  auto& c = node.client();
  auto cpp = read_file(example_zip("cpp-echo"));
  auto expect = [&](const net::http_response& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), type) << r.body;
    EXPECT_NE(r.body.find("\"message\":"), std::string::npos) << r.body;
  };
  const std::string bad = "InvalidParameterValueException";
  expect(c.request("POST", functions, "not json"), 400, bad);
  expect(c.request("POST", functions, R"({"FunctionName":"x","Runtime":"provided"})"), 400, bad);
  expect(c.request("POST", functions, create_body("bad name!", "provided", "b", cpp)), 400, bad);
  expect(c.request("POST", functions, create_body("f", "cobol", "b", cpp)), 400, bad);
  expect(c.request("POST", functions, create_body("f", "provided", "b", cpp, 10, 100)), 400, bad);
  expect(c.request("POST", functions, create_body("f", "provided", "b", cpp, 0)), 400, bad);
  expect(c.request("POST", functions, create_body("f", "provided", "b", "not a zip at all")), 400,
         bad);
  expect(c.request("POST", functions,
                   R"({"FunctionName":"f","Runtime":"provided","Code":{"ZipFile":"@@@"}})"),
         400, bad);
  auto escaping = make_zip({{"ok.txt", "x"}});
  // A zip whose entry climbs out of the package (crafted: zip refuses to write one).
  auto pos = escaping.find("ok.txt");
  while (pos != std::string::npos) {
    escaping.replace(pos, 6, "../e.x");
    pos = escaping.find("ok.txt");
  }
  auto r = c.request("POST", functions, create_body("escape", "provided", "b", escaping));
  expect(r, 400, bad);
  EXPECT_NE(r.body.find(".."), std::string::npos) << r.body;
  EXPECT_EQ(c.request("GET", functions + "/escape").status, 404);

  expect(c.request("GET", functions + "/nope"), 404, "ResourceNotFoundException");
  // Each unknown name gets its own short-lived router; none of them may take the ingress down.
  for (int i = 0; i < 5; ++i)
    expect(c.request("POST", invoke_path("nope" + std::to_string(i)), "{}"), 404,
           "ResourceNotFoundException");
  deploy(node, "cpp-echo", "provided", "bootstrap", cpp);
  expect(c.request("POST", invoke_path("cpp-echo"), "{not json"), 400,
         "InvalidRequestContentException");
  expect(c.request("POST", invoke_path("cpp-echo"), std::string(6 * 1024 * 1024 + 10, ' ')), 413,
         "RequestEntityTooLargeException");
  expect(c.request("GET", "/no/such/route"), 404, "ResourceNotFoundException");
  expect(c.request("PUT", functions + "/cpp-echo"), 405, "MethodNotAllowedException");
  // The node is still fine.
  EXPECT_EQ(c.request("POST", invoke_path("cpp-echo"), "[1]").body, "[1]");
}

TEST_F(NodeTest, HttpLimitsAnswerJsonAndClose) {
  node_process node{data.path(), {"--http.read-timeout=300ms"}};
  auto big = net::http_client::raw_exchange(
      "127.0.0.1", node.port(),
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
      std::chrono::seconds(5));
  EXPECT_NE(big.find("HTTP/1.1 431"), std::string::npos) << big.substr(0, 200);
  EXPECT_NE(big.find("\"message\""), std::string::npos);
  auto garbage = net::http_client::raw_exchange("127.0.0.1", node.port(), "BLAH\r\n\r\n",
                                                std::chrono::seconds(5));
  EXPECT_NE(garbage.find("HTTP/1.1 400"), std::string::npos) << garbage;
  auto stalled = net::http_client::raw_exchange(
      "127.0.0.1", node.port(), "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
      std::chrono::seconds(5));
  EXPECT_NE(stalled.find("HTTP/1.1 408"), std::string::npos) << stalled;
  auto pipelined =
      net::http_client::raw_exchange("127.0.0.1", node.port(),
                                     "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope "
                                     "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                     std::chrono::seconds(5));
  auto first = pipelined.find("HTTP/1.1 200");
  auto second = pipelined.find("HTTP/1.1 404");
  EXPECT_NE(first, std::string::npos) << pipelined;
  EXPECT_NE(second, std::string::npos) << pipelined;
  EXPECT_LT(first, second);
}

TEST_F(NodeTest, RuntimeApiIsNotReachableFromTheHost) {
  node_process node{data.path()};
  deploy(node, "cpp-echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  ASSERT_EQ(node.client().request("POST", invoke_path("cpp-echo"), "{}").status, 200);
  // The instance's Runtime API listens on 127.0.0.1:9001 inside its own network namespace only.
  EXPECT_THROW(net::http_client("127.0.0.1", 9001, std::chrono::seconds(2))
                   .request("GET", "/2018-06-01/runtime/invocation/next"),
               std::runtime_error);
}

TEST_F(NodeTest, StopsCleanlyWithInstancesRunning) {
  node_process node{data.path()};
  deploy_examples(node);
  for (auto name : {"shell-echo", "cpp-echo", "python-echo"})
    ASSERT_EQ(node.client().request("POST", invoke_path(name), "{}").status, 200);
  EXPECT_EQ(node.stop(), 0);
  // Nothing of the node's sandboxes is left: their mount points are gone.
  std::error_code ec;
  auto run = data.path() / "run";
  size_t left = 0;
  for (auto& family : std::filesystem::directory_iterator(run, ec))
    for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator(family, ec))
      ++left;
  EXPECT_EQ(left, 0u);
}

/// Whether this machine's mount table lists a mount at `path`.
bool mounted_at(const std::filesystem::path& path) {
  std::ifstream in{"/proc/self/mountinfo"};
  auto field = " " + path.string() + " ";
  for (std::string line; std::getline(in, line);)
    if (line.find(field) != std::string::npos)
      return true;
  return false;
}

/// The entries of `dir` whose names are package digests (64 characters).
size_t package_dirs(const std::filesystem::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec))
    n += e.path().filename().string().size() == 64 && e.is_directory() ? 1 : 0;
  return n;
}

TEST_F(NodeTest, InstancesReadTheirCodeThroughOneFuseViewThatLeavesNoMountBehind) {
  auto mnt = std::filesystem::absolute(data.path()) / "packages-mnt";
  {
    node_process node{data.path()};
    deploy_examples(node);
    // The same tree deployed twice is one package.
    deploy(node, "cpp-echo-2", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
    for (auto name : {"shell-echo", "cpp-echo", "cpp-echo-2", "python-echo", "node-echo"})
      EXPECT_EQ(node.client().request("POST", invoke_path(name), "{}").status, 200) << name;
    ASSERT_TRUE(mounted_at(mnt));
    EXPECT_EQ(package_dirs(mnt), 4u);
    EXPECT_EQ(package_dirs(data.path() / "packages-tree"), 0u); // nothing extracted
    // A crash leaves the mount; the next start clears it and mounts afresh.
    node.kill9();
  }
  node_process node{data.path()};
  auto r = node.client().request("POST", invoke_path("python-echo"), R"({"after":"restart"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(package_dirs(mnt), 4u);
  EXPECT_EQ(node.stop(), 0);
  EXPECT_FALSE(mounted_at(mnt));
}

TEST_F(NodeTest, EgressRulesAreKeptPerTenantNormalizedAndCheckedWhenSet) {
  {
    node_process node{data.path()};
    auto& cl = node.client();
    auto r = cl.request("GET", "/troupe/egress/acme");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, R"({"Tenant":"acme","Rules":[],"UpdatedMs":0})");
    r = cl.request("PUT", "/troupe/egress/acme",
                   R"({"Rules":["10.9.8.7/8","Db.Example.com:5432","10.0.0.0/8:*"]})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find(R"("Rules":["10.0.0.0/8:*","db.example.com:5432"])"), std::string::npos)
        << r.body;
    r = cl.request("PUT", "/troupe/egress/acme", R"({"Rules":["10.0.0.0/8","nowhere"]})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("egress rule 'nowhere'"), std::string::npos) << r.body;
    for (const char* body :
         {"", "[]", R"({"Rules":"10.0.0.0/8"})", R"({"Rules":[1]})", R"({"Allow":[]})", "{}"})
      EXPECT_EQ(cl.request("PUT", "/troupe/egress/acme", body).status, 400) << body;
    EXPECT_EQ(cl.request("PUT", "/troupe/egress/bad..name", R"({"Rules":[]})").status, 400);
    EXPECT_EQ(cl.request("POST", "/troupe/egress/acme", R"({"Rules":[]})").status, 405);
    EXPECT_EQ(cl.request("PUT", "/troupe/egress/beta", R"({"Rules":["*.b.test:*"]})").status, 200);
  }
  node_process node{data.path()}; // kept in the registry
  auto r = node.client().request("GET", "/troupe/egress");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"({"Tenant":"acme","Rules":["10.0.0.0/8:*","db.example.com:5432"])"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("Tenant":"beta","Rules":["*.b.test:*"])"), std::string::npos) << r.body;
  r = node.client().request("PUT", "/troupe/egress/beta", R"({"Rules":[]})");
  EXPECT_EQ(r.status, 200) << r.body;
  r = node.client().request("GET", "/troupe/egress");
  EXPECT_EQ(r.body.find("beta"), std::string::npos) << r.body;
}

TEST_F(NodeTest, PackageLimitsComeFromConfigurationAndRefuseBeforeStoring) {
  node_process node{data.path(), {"--code.max-files=2", "--code.max-unpacked-mb=1"}};
  auto three = make_zip({{"a.py", "x = 1\n"}, {"b.py", "x = 2\n"}, {"c.py", "x = 3\n"}});
  auto r = node.client().request("POST", functions, create_body("many", "python3", "a.h", three));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("more than 2 entries"), std::string::npos) << r.body;
  auto big = make_zip({{"a.py", std::string(2u << 20, '#')}});
  r = node.client().request("POST", functions, create_body("big", "python3", "a.h", big));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(package_dirs(data.path() / "packages-mnt"), 0u); // nothing was stored
  r = node.client().request("POST", functions,
                            create_body("two", "python3", "a.h", make_zip({{"a.py", "x = 1\n"}})));
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(NodeTest, WithoutTheFuseViewPackagesAreExtractedAndRunTheSame) {
  node_process node{data.path(), {"--code.extract"}};
  deploy_examples(node);
  for (auto name : {"shell-echo", "cpp-echo", "python-echo", "node-echo"}) {
    auto r = node.client().request("POST", invoke_path(name), R"({"via":"tree"})");
    EXPECT_EQ(r.status, 200) << name << ": " << r.body;
    EXPECT_NE(r.body.find("tree"), std::string::npos) << name << ": " << r.body;
  }
  EXPECT_FALSE(mounted_at(std::filesystem::absolute(data.path()) / "packages-mnt"));
  EXPECT_EQ(package_dirs(data.path() / "packages-tree"), 4u);
}

} // namespace

namespace {

/// The X-Amz-Log-Result of `r`, decoded ("" without one).
std::string log_result(const net::http_response& r) {
  auto decoded = net::base64_decode(header(r, "X-Amz-Log-Result"));
  return decoded ? *decoded : "";
}

net::http_response invoke_tail(node_process& node, const std::string& name,
                               const std::string& body) {
  return node.client().request("POST", invoke_path(name), body, {{"X-Amz-Log-Type", "Tail"}});
}

} // namespace

TEST_F(NodeTest, LogTypeTailGivesTheInvocationsOwnLogAsLambdaPrintsIt) {
  node_process node{data.path()};
  auto zip = make_zip({{"app.py",
                        "import sys, time\n"
                        "def handler(event, context):\n"
                        "    time.sleep(event.get('sleep', 0))\n"
                        "    print('out', event['n'])\n"
                        "    print('err', event['n'], file=sys.stderr)\n"
                        "    print('x' * event.get('big', 0))\n"
                        "    return event['n']\n",
                        false}});
  deploy(node, "talker", "python3.11", "app.handler", zip);
  auto first = invoke_tail(node, "talker", R"({"n":1})");
  ASSERT_EQ(first.status, 200) << first.body;
  auto id = header(first, "x-amzn-RequestId");
  auto log = log_result(first);
  EXPECT_EQ(log.rfind("START RequestId: " + id + " Version: $LATEST\n", 0), 0u) << log;
  EXPECT_NE(log.find("\nout 1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("\nerr 1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("\nEND RequestId: " + id + "\nREPORT RequestId: " + id + "\tDuration: "),
            std::string::npos)
      << log;
  for (auto field : {"\tBilled Duration: ", " ms\tMemory Size: 128 MB\tMax Memory Used: ",
                     " MB\tInit Duration: "})
    EXPECT_NE(log.find(field), std::string::npos) << field << " in " << log;
  EXPECT_EQ(log.back(), '\n');

  // The warm one has only its own output, and no init.
  auto second = invoke_tail(node, "talker", R"({"n":2})");
  auto warm = log_result(second);
  EXPECT_NE(warm.find("\nout 2\n"), std::string::npos) << warm;
  EXPECT_EQ(warm.find("out 1"), std::string::npos) << warm;
  EXPECT_EQ(warm.find("Init Duration"), std::string::npos) << warm;

  // Duration is the handler's run, as the runtime saw it: at least its sleep.
  auto slept = log_result(invoke_tail(node, "talker", R"({"n":6,"sleep":0.2})"));
  auto at = slept.find("\tDuration: ");
  ASSERT_NE(at, std::string::npos) << slept;
  EXPECT_GE(std::stod(slept.substr(at + 11)), 200.0) << slept;

  // Without LogType, or with None, no log comes back; another value is refused.
  auto plain = node.client().request("POST", invoke_path("talker"), R"({"n":3})");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(header(plain, "X-Amz-Log-Result"), "");
  auto bad = node.client().request("POST", invoke_path("talker"), R"({"n":4})",
                                   {{"X-Amz-Log-Type", "Everything"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(header(bad, "x-amzn-ErrorType"), "InvalidParameterValueException") << bad.body;

  // A long log: the last 4 KB, ending with the REPORT line.
  auto big = invoke_tail(node, "talker", R"({"n":5,"big":20000})");
  auto tail = log_result(big);
  EXPECT_EQ(tail.size(), 4096u);
  EXPECT_NE(tail.find("REPORT RequestId: " + header(big, "x-amzn-RequestId")), std::string::npos);

  // Every invocation is in the function's log on the host, in order, and
  // the operator route reads it (the JSON string escapes its newlines). A
  // record is appended just after its answer goes out, so the latest may
  // take a moment to show.
  auto kept = get_until(node, "/troupe/logs?function=talker&max-bytes=1048576",
                        [](auto& r) { return r.body.find("\\nout 5\\n") != std::string::npos; });
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_NE(kept.body.find(R"({"Function":"default/talker","Hosts":[{"Host":")"), std::string::npos)
      << kept.body.substr(0, 200);
  at = 0;
  for (int n : {1, 2, 3, 5}) { // 4 was refused: it never ran
    at = kept.body.find("\\nout " + std::to_string(n) + "\\n", at);
    ASSERT_NE(at, std::string::npos) << n << " in " << kept.body.substr(0, 2000);
  }
  bool on_disk = false;
  for (const auto& e : std::filesystem::directory_iterator(data.path() / "logs"))
    on_disk |= e.path().filename() == "default.talker.log";
  EXPECT_TRUE(on_disk);
}

TEST_F(NodeTest, TheLogOfATimeoutOrACrashSaysSo) {
  node_process node{data.path()};
  auto zip = make_zip({{"bootstrap",
                        "#!/bin/sh\napi=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\n"
                        "curl -sS $api/invocation/next > /dev/null\n"
                        "echo about to stall\nsleep 60\n",
                        true}});
  deploy(node, "staller", "provided", "bootstrap", zip, 1);
  auto r = invoke_tail(node, "staller", "{}");
  auto log = log_result(r);
  EXPECT_NE(log.find("\nabout to stall\n"), std::string::npos) << log;
  EXPECT_NE(log.find("Task timed out after 1.00 seconds\nEND RequestId"), std::string::npos) << log;
  EXPECT_NE(log.find("\tStatus: timeout\t\n"), std::string::npos) << log;

  deploy_examples(node);
  auto crashed = invoke_tail(node, "cpp-echo", R"({"crash":true})");
  auto crash_log = log_result(crashed);
  EXPECT_NE(crash_log.find("Runtime exited with error: exit status 3"), std::string::npos)
      << crash_log;
  EXPECT_NE(crash_log.find("\tStatus: error\tError Type: Runtime.ExitError\t\n"), std::string::npos)
      << crash_log;
}

// A node whose open-file limit stays low (it raises it as far as it may:
// without CAP_SYS_RESOURCE, to the hard limit this test lowered) says at
// start how many instances that allows. The lowered limit stays with this
// test's process; 8000 is still plenty for any other test in it.
TEST(NodeLimits, AnOpenFileLimitBelowTheHostsMemorySaysSoAtStart) {
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  rlimit low{8000, 8000};
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < low.rlim_max)
    low = {now.rlim_max, now.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  temp_dir data, scratch;
  auto log_file = scratch.path() / "node.log";
  unsigned long long limit = 0;
  {
    node_process node{data.path(), {"--host.memory-mb=1000000"}, log_file};
    std::istringstream limits{read_file("/proc/" + std::to_string(node.pid()) + "/limits")};
    for (std::string line; std::getline(limits, line);)
      if (line.rfind("Max open files", 0) == 0)
        limit = std::stoull(line.substr(26));
  }
  ASSERT_GT(limit, 0u);
  auto log = read_file(log_file);
  auto by_files = (limit - 1000) / 6;
  if (by_files >= 7812) { // it could raise the limit: nothing to say
    EXPECT_EQ(log.find("open_file_limit"), std::string::npos) << log;
    return;
  }
  EXPECT_NE(log.find("\"event\":\"open_file_limit\""), std::string::npos) << log;
  EXPECT_NE(log.find("open-file limit of " + std::to_string(limit) + " allows about " +
                     std::to_string(by_files) + " instances, host.memory-mb 1000000 about 7812"),
            std::string::npos)
      << log;
}
