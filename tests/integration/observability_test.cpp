// What operators watch a node by: Prometheus metrics at /metrics (checked
// with promtool), structured JSON logs with one record per invocation, and
// the Grafana dashboard in deploy/ drawing only metrics a node serves.
#include "node_process.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sys/wait.h>
#include <thread>

using namespace troupe;
using namespace troupe::test;

namespace {

const std::string failing_py = "def handler(event, context):\n    raise ValueError('boom')\n";
const std::string sleepy_py = "import time\n\ndef handler(event, context):\n"
                              "    time.sleep(event.get('sleep', 0))\n    return {}\n";

/// promtool's verdict on a scrape.
std::pair<int, std::string> promtool_check(const std::string& text, const temp_dir& dir) {
  auto path = dir.path() / "scrape.txt";
  std::ofstream{path} << text;
  return run("promtool check metrics < " + path.string());
}

/// The value of the series `series` (name and labels, exactly as rendered), or -1.
double sample(const std::string& scrape, const std::string& series) {
  auto at = scrape.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(scrape.substr(at + series.size() + 2));
}

/// Metric families the scrape declares (# TYPE lines).
std::set<std::string> families(const std::string& scrape) {
  std::set<std::string> out;
  std::regex type{R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) )"};
  for (std::sregex_iterator it{scrape.begin(), scrape.end(), type}, end; it != end; ++it)
    out.insert((*it)[1]);
  return out;
}

/// The records of a JSON-lines log whose "event" is `event`, each as field -> raw JSON value.
std::vector<std::map<std::string, std::string>> records(const std::string& log,
                                                        const std::string& event) {
  std::vector<std::map<std::string, std::string>> out;
  simdjson::dom::parser parser;
  size_t at = 0;
  for (auto nl = log.find('\n'); nl != std::string::npos; at = nl + 1, nl = log.find('\n', at)) {
    simdjson::dom::object obj;
    if (parser.parse(log.substr(at, nl - at)).get(obj) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not a JSON line: " << log.substr(at, nl - at);
      continue;
    }
    std::map<std::string, std::string> fields;
    for (auto [k, v] : obj) {
      std::string_view s;
      fields[std::string{k}] = v.get(s) == simdjson::SUCCESS ? std::string{s} : simdjson::minify(v);
    }
    if (fields["event"] == event)
      out.push_back(std::move(fields));
  }
  return out;
}

class ObservabilityTest : public ::testing::Test {
protected:
  temp_dir data;
  temp_dir scratch;
  std::filesystem::path log_file = scratch.path() / "node.log";

  void deploy(node_process& node, const std::string& name, const std::string& runtime,
              const std::string& handler, const std::string& zip, int timeout_s = 10) {
    auto r = node.client().request("POST", functions_path,
                                   create_body(name, runtime, handler, zip, timeout_s));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string scrape(node_process& node) {
    net::http_client metrics{"127.0.0.1", node.metrics_port(), std::chrono::seconds(10)};
    auto r = metrics.request("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(header(r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
};

} // namespace

TEST_F(ObservabilityTest, MetricsCountInvocationsByOutcomeAndPassPromtool) {
  node_process node{data.path(), {"--metrics.listen=127.0.0.1:0"}, log_file};
  ASSERT_NE(node.metrics_port(), 0);
  deploy(node, "echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  deploy(node, "failing", "python3.11", "handler.handler", make_zip({{"handler.py", failing_py}}));
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(node.client().request("POST", invoke_path("echo"), "{}").status, 200);
  auto failed = node.client().request("POST", invoke_path("failing"), "{}");
  ASSERT_EQ(header(failed, "X-Amz-Function-Error"), "Unhandled");
  ASSERT_EQ(node.client().request("POST", invoke_path("no-such-fn"), "{}").status, 404);

  auto text = scrape(node);
  auto [status, out] = promtool_check(text, scratch);
  EXPECT_EQ(status, 0) << out;
  auto fn = [](const std::string& name, const std::string& more = "") {
    return "{tenant=\"default\",function=\"" + name + "\"" + more + "}";
  };
  EXPECT_EQ(sample(text, "troupe_invocations_total" + fn("echo", ",outcome=\"ok\"")), 3);
  EXPECT_EQ(sample(text, "troupe_invocations_total" + fn("failing", ",outcome=\"function_error\"")),
            1);
  // A name that does not exist gets no series of its own.
  EXPECT_EQ(sample(text, "troupe_invocations_total" + fn("", ",outcome=\"not_found\"")), 1);
  EXPECT_EQ(text.find("no-such-fn"), std::string::npos);
  EXPECT_EQ(sample(text, "troupe_invocation_seconds_count" + fn("echo")), 3);
  EXPECT_EQ(sample(text, "troupe_run_seconds_count" + fn("echo")), 3);
  EXPECT_EQ(sample(text, "troupe_wait_seconds_count" + fn("echo")), 3);
  EXPECT_EQ(sample(text, "troupe_init_seconds_count" + fn("echo")), 1); // one cold start
  EXPECT_EQ(sample(text, "troupe_cold_starts_total{runtime=\"provided\",memory_mb=\"128\","
                         "template=\"hit\"}"),
            1);
  EXPECT_EQ(sample(text, "troupe_instances{state=\"idle\"}"), 2);
  EXPECT_EQ(sample(text, "troupe_instances{state=\"busy\"}"), 0);
  EXPECT_EQ(sample(text, "troupe_host_slots{kind=\"total\"}"), 64);
  EXPECT_EQ(sample(text, "troupe_host_slots{kind=\"free\"}"), 62);
  EXPECT_EQ(sample(text, "troupe_queue_depth" + fn("echo")), 0);
  EXPECT_EQ(sample(text, "troupe_host_breaker{host=\"host-1\",state=\"closed\"}"), 1);
  EXPECT_GE(sample(text, "troupe_pool_templates{runtime=\"provided\",memory_mb=\"128\"}"), 0);
  EXPECT_GT(sample(text, "troupe_rocksdb_writes_total"), 0); // the two deploys, at least
  EXPECT_GT(sample(text, "troupe_rocksdb_reads_total"), 0);
  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 0);
  EXPECT_EQ(sample(text, "troupe_async_queue_depth"), 0);
  // The instances read their code through the node's FUSE view.
  EXPECT_GT(sample(text, "troupe_fuse_lookups_total"), 0);
  EXPECT_GT(sample(text, "troupe_fuse_reads_total"), 0);
  EXPECT_GT(sample(text, "troupe_fuse_read_bytes_total"), 0);
  EXPECT_EQ(sample(text, "troupe_fuse_read_errors_total"), 0);
  EXPECT_GT(sample(text, "troupe_package_cache_bytes"), 0);
  // The controller's node holds the origin: nothing was fetched.
  EXPECT_EQ(sample(text, "troupe_package_fetched_bytes_total{source=\"origin\"}"), 0);

  net::http_client metrics{"127.0.0.1", node.metrics_port(), std::chrono::seconds(10)};
  auto wrong_path = metrics.request("GET", "/other");
  EXPECT_EQ(wrong_path.status, 404);
  EXPECT_NE(wrong_path.body.find("/metrics"), std::string::npos);
  EXPECT_EQ(metrics.request("POST", "/metrics", "x").status, 405);
}

TEST_F(ObservabilityTest, RefusalsAndTimeoutsAreCountedByReasonAndOutcome) {
  // One instance and one place in the queue: a request beyond both is refused.
  node_process node{
      data.path(),
      {"--metrics.listen=127.0.0.1:0", "--router.max-instances=1", "--router.max-queue=1"},
      log_file};
  deploy(node, "sleepy", "python3.11", "handler.handler", make_zip({{"handler.py", sleepy_py}}), 1);
  ASSERT_EQ(node.client().request("POST", invoke_path("sleepy"), "{}").status, 200); // warm
  auto call = [&](const std::string& body) {
    net::http_client c{"127.0.0.1", node.port(), std::chrono::seconds(30)};
    return c.request("POST", invoke_path("sleepy"), body);
  };
  std::thread slow([&] { // takes the instance, and times out after 1 s
    EXPECT_EQ(header(call(R"({"sleep":3})"), "X-Amz-Function-Error"), "Unhandled");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread queued([&] { EXPECT_EQ(call("{}").status, 200); }); // waits for a new instance
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto refused = call("{}");
  EXPECT_EQ(refused.status, 429) << refused.body;
  slow.join();
  queued.join();
  auto text = scrape(node);
  auto series = [](const std::string& outcome) {
    return "troupe_invocations_total{tenant=\"default\",function=\"sleepy\",outcome=\"" + outcome +
           "\"}";
  };
  EXPECT_EQ(sample(text, series("ok")), 2);
  EXPECT_EQ(sample(text, series("timeout")), 1);
  EXPECT_EQ(sample(text, series("throttled")), 1);
  EXPECT_EQ(
      sample(text,
             R"(troupe_admission_rejections_total{reason="ConcurrentInvocationLimitExceeded"})"),
      1);
  EXPECT_EQ(sample(text, R"(troupe_admission_rejections_total{reason="CallerRateLimitExceeded"})"),
            0);
  auto [status, out] = promtool_check(text, scratch);
  EXPECT_EQ(status, 0) << out;
}

TEST_F(ObservabilityTest, EveryInvocationLeavesOneJsonRecord) {
  std::vector<std::string> ids;
  {
    node_process node{data.path(), {}, log_file};
    deploy(node, "echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
    for (int i = 0; i < 3; ++i) {
      auto r = node.client().request("POST", invoke_path("echo"), "{}");
      ASSERT_EQ(r.status, 200);
      ids.push_back(header(r, "x-amzn-RequestId"));
    }
    EXPECT_EQ(node.stop(), 0); // the log is complete once the node has stopped
  }
  auto log = read_file(log_file);
  auto recs = records(log, "invocation");
  ASSERT_EQ(recs.size(), 3u) << log;
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    EXPECT_EQ(r["request_id"], ids[i]);
    EXPECT_EQ(r["level"], "info");
    EXPECT_EQ(r["tenant"], "default");
    EXPECT_EQ(r["function"], "echo");
    EXPECT_EQ(r["version"], "$LATEST");
    EXPECT_EQ(r["outcome"], "ok");
    EXPECT_EQ(r["host"], "host-1");
    EXPECT_FALSE(r["instance"].empty());
    EXPECT_EQ(r["memory_mb"], "128");
    EXPECT_EQ(r["attempts"], "1");
    for (auto key : {"wait_ms", "run_ms", "total_ms", "billed_ms", "max_memory_mb", "time"})
      EXPECT_EQ(r.count(key), 1u) << key;
    EXPECT_GE(std::stod(r["total_ms"]), std::stod(r["run_ms"]));
    EXPECT_EQ(r["cold_start"], i == 0 ? "true" : "false");
    EXPECT_EQ(r.count("init_ms"), i == 0 ? 1u : 0u); // only the cold start has one
  }
  EXPECT_EQ(recs[0]["instance"], recs[2]["instance"]); // the warm ones reused it
  // The node's other lines are JSON records too, with levels.
  EXPECT_EQ(records(log, "started").size(), 1u);
  EXPECT_EQ(records(log, "stopping").size(), 1u);
}

TEST_F(ObservabilityTest, LogLevelAndFormatComeFromConfiguration) {
  {
    node_process node{data.path(), {"--log.level=warn"}, log_file};
    deploy(node, "echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
    ASSERT_EQ(node.client().request("POST", invoke_path("echo"), "{}").status, 200);
    node.stop();
  }
  auto quiet = read_file(log_file);
  EXPECT_EQ(quiet.find("\"invocation\""), std::string::npos) << quiet;
  EXPECT_EQ(quiet.find("\"level\":\"info\""), std::string::npos) << quiet;
  {
    temp_dir other;
    auto text_log = scratch.path() / "text.log";
    node_process node{other.path(), {"--log.format=text"}, text_log};
    deploy(node, "echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
    ASSERT_EQ(node.client().request("POST", invoke_path("echo"), "{}").status, 200);
    node.stop();
    auto text = read_file(text_log);
    EXPECT_NE(text.find("troupe-node: invocation request_id="), std::string::npos) << text;
    EXPECT_EQ(text.find("{\"time\""), std::string::npos) << text;
  }
  auto [status, out] = run(std::string{TROUPE_NODE_PATH} + " --log.level=loud");
  EXPECT_EQ(status, 2);
  EXPECT_NE(out.find("log.level 'loud' is not one of debug, info, warn, error"), std::string::npos)
      << out;
  std::tie(status, out) = run(std::string{TROUPE_NODE_PATH} + " --metrics.listen=nowhere");
  EXPECT_EQ(status, 2);
  EXPECT_NE(out.find("metrics.listen"), std::string::npos) << out;
}

TEST_F(ObservabilityTest, TheDashboardDrawsOnlyMetricsANodeServes) {
  auto dashboard = read_file(std::filesystem::path{TROUPE_SOURCE_DIR} / "deploy" / "grafana" /
                             "troupe-dashboard.json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(dashboard).get(doc), simdjson::SUCCESS);
  std::vector<std::string> exprs;
  simdjson::dom::array panels;
  ASSERT_EQ(doc["panels"].get(panels), simdjson::SUCCESS);
  for (auto p : panels) {
    simdjson::dom::array targets;
    if (p["targets"].get(targets) != simdjson::SUCCESS)
      continue;
    for (auto t : targets) {
      std::string_view e;
      ASSERT_EQ(t["expr"].get(e), simdjson::SUCCESS);
      exprs.emplace_back(e);
    }
  }
  ASSERT_GE(exprs.size(), 15u);
  // What a node with every role serves, once it has had invocations.
  node_process node{data.path(), {"--metrics.listen=127.0.0.1:0"}, log_file};
  deploy(node, "echo", "provided", "bootstrap", read_file(example_zip("cpp-echo")));
  ASSERT_EQ(node.client().request("POST", invoke_path("echo"), "{}").status, 200);
  auto served = families(scrape(node));
  std::regex metric{R"(\b((troupe|process)_[a-z_]+)\b)"};
  std::set<std::string> used;
  for (const auto& e : exprs)
    for (std::sregex_iterator it{e.begin(), e.end(), metric}, end; it != end; ++it)
      used.insert(
          std::regex_replace(std::string{(*it)[1]}, std::regex{"_(bucket|sum|count)$"}, ""));
  for (const auto& name : used)
    EXPECT_EQ(served.count(name), 1u) << "the dashboard uses " << name << ", which no node serves";
  // Prometheus' configuration for the local cluster is valid too.
  auto [status, out] = run("promtool check config " + std::string{TROUPE_SOURCE_DIR} +
                           "/deploy/prometheus/prometheus.yml");
  EXPECT_EQ(status, 0) << out;
}
