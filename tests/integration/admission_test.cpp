// Admission end to end on a real node: tenants' rate and concurrency limits,
// functions' reserved concurrency (PutFunctionConcurrency), and what a 429
// says about which limit refused it.
#include "node_process.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono;

namespace {

/// A Python function that sleeps for the event's "sleep" seconds, then echoes it.
std::string sleepy_zip() {
  return make_zip({{"sleepy.py", "import time\n"
                                 "def handler(e, c):\n"
                                 "  time.sleep(e.get('sleep', 0))\n"
                                 "  return e\n"}});
}

std::string concurrency_path(const std::string& name, const std::string& version = "2017-10-31") {
  return "/" + version + "/functions/" + name + "/concurrency";
}

class AdmissionTest : public ::testing::Test {
protected:
  temp_dir data;

  static void deploy(node_process& node, const std::string& name) {
    auto r = node.client().request("POST", functions_path,
                                   create_body(name, "python3.11", "sleepy.handler", sleepy_zip()));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static net::http_response reserve(node_process& node, const std::string& name, int n) {
    return node.client().request("PUT", concurrency_path(name),
                                 "{\"ReservedConcurrentExecutions\":" + std::to_string(n) + "}");
  }

  /// `n` concurrent invocations of `name` that each sleep `sleep_s`.
  static std::vector<net::http_response> together(node_process& node, const std::string& name,
                                                  int n, double sleep_s) {
    std::vector<net::http_response> out(static_cast<size_t>(n));
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
      ts.emplace_back([&, i] {
        try {
          net::http_client cl{"127.0.0.1", node.port(), seconds(30)};
          out[size_t(i)] =
              cl.request("POST", invoke_path(name), "{\"sleep\":" + std::to_string(sleep_s) + "}");
        } catch (const std::exception& e) { // no answer in time: status 0
          out[size_t(i)].body = e.what();
        }
      });
    for (auto& t : ts)
      t.join();
    return out;
  }

  static int with_status(const std::vector<net::http_response>& rs, int status) {
    return static_cast<int>(
        std::count_if(rs.begin(), rs.end(), [&](const auto& r) { return r.status == status; }));
  }
};

TEST_F(AdmissionTest, ReservedConcurrencyIsSetReadAndRemovedAndZeroStopsTheFunction) {
  node_process node{data.path()};
  deploy(node, "f");
  EXPECT_EQ(node.client().request("GET", concurrency_path("f", "2019-09-30")).body, "{}");
  auto put = reserve(node, "f", 0);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body, R"({"ReservedConcurrentExecutions":0})");
  EXPECT_EQ(node.client().request("GET", concurrency_path("f", "2019-09-30")).body, put.body);
  auto got = node.client().request("GET", functions_path + "/f");
  EXPECT_NE(got.body.find(R"("Concurrency":{"ReservedConcurrentExecutions":0})"), std::string::npos)
      << got.body;

  auto stopped = node.client().request("POST", invoke_path("f"), "{}");
  EXPECT_EQ(stopped.status, 429) << stopped.body;
  EXPECT_NE(stopped.body.find(R"("Reason":"ReservedFunctionConcurrentInvocationLimitExceeded")"),
            std::string::npos)
      << stopped.body;
  EXPECT_EQ(header(stopped, "Retry-After"), "1");

  auto removed = node.client().request("DELETE", concurrency_path("f"));
  EXPECT_EQ(removed.status, 204) << removed.body;
  auto runs = node.client().request("POST", invoke_path("f"), "{}");
  EXPECT_EQ(runs.status, 200) << runs.body;

  EXPECT_EQ(reserve(node, "missing", 1).status, 404);
  EXPECT_EQ(node.client().request("PUT", concurrency_path("f"), "{}").status, 400);
  EXPECT_EQ(node.client().request("PUT", concurrency_path("f"), "nope").status, 400);
  EXPECT_EQ(reserve(node, "f", -2).status, 400);
  EXPECT_EQ(node.client().request("POST", concurrency_path("f")).status, 405);
  EXPECT_EQ(node.client().request("GET", "/2017-10-31/functions/f/other").status, 404);
}

TEST_F(AdmissionTest, AReservationChangeLetsTheRequestsInFlightFinish) {
  // A change of configuration gives the function a new router; the old one
  // answers what it holds (before, it was stopped and they never were).
  node_process node{data.path()};
  deploy(node, "f");
  std::vector<net::http_response> held;
  std::thread in_flight([&] { held = together(node, "f", 2, 1.0); });
  std::this_thread::sleep_for(milliseconds(400));
  ASSERT_EQ(reserve(node, "f", 3).status, 200);
  auto fresh = node.client().request("POST", invoke_path("f"), "{}");
  in_flight.join();
  EXPECT_EQ(fresh.status, 200) << fresh.body;
  ASSERT_EQ(held.size(), 2u);
  for (const auto& r : held)
    EXPECT_EQ(r.status, 200) << r.body;
  auto routers = node.client().request("GET", "/troupe/routers").body;
  EXPECT_NE(routers.find(R"("FunctionName":"f","Requests":1,)"), std::string::npos)
      << "the new router took only the request after the change: " << routers;
}

TEST_F(AdmissionTest, AReservationCapsItsFunctionAndIsKeptFromTheTenantsOthers) {
  node_process node{data.path(),
                    {"--placement.tenant-instances=3", "--placement.unreserved-min=1"}};
  deploy(node, "kept");
  deploy(node, "other");
  ASSERT_EQ(reserve(node, "kept", 2).status, 200);
  auto too_much = reserve(node, "other", 1); // 2 + 1 would leave nothing unreserved
  EXPECT_EQ(too_much.status, 400) << too_much.body;
  EXPECT_NE(too_much.body.find("UnreservedConcurrentExecution"), std::string::npos);
  // The others share the one instance the reservation leaves: of three at
  // once, one runs and two are refused at once by the cluster's limit.
  auto others = together(node, "other", 3, 1.0);
  EXPECT_EQ(with_status(others, 200), 1);
  EXPECT_EQ(with_status(others, 429), 2);
  for (const auto& r : others) {
    if (r.status == 429) {
      EXPECT_NE(r.body.find(R"("Reason":"ConcurrentInvocationLimitExceeded")"), std::string::npos)
          << r.body;
    }
  }
  // The reserved function gets its two, however busy the others are.
  auto kept = together(node, "kept", 2, 0.5);
  EXPECT_EQ(with_status(kept, 200), 2) << kept[0].body << kept[1].body;
}

TEST_F(AdmissionTest, OverloadIsRefusedAtOnceAndEveryRequestIsAnswered) {
  // Two instances and a queue of four: of forty at once, at most six are
  // served in the first round; the rest are refused without waiting.
  node_process node{data.path(), {"--router.max-instances=2", "--router.max-queue=4"}};
  deploy(node, "f");
  auto t0 = steady_clock::now();
  auto rs = together(node, "f", 40, 0.5);
  auto took = steady_clock::now() - t0;
  EXPECT_EQ(with_status(rs, 200) + with_status(rs, 429), 40) << "every one answered, 200 or 429";
  EXPECT_GE(with_status(rs, 200), 2);
  EXPECT_LE(with_status(rs, 200), 6);
  EXPECT_LT(took, seconds(10)) << "nothing waited for the router's maximum wait";
  for (const auto& r : rs) {
    if (r.status == 429) {
      EXPECT_NE(r.body.find("queue of f is full"), std::string::npos) << r.body;
      EXPECT_EQ(header(r, "Retry-After"), "1");
    }
  }
  // The router granted the ingress credit for its instances and queue: the
  // ingress refused most of them itself, without a message to the router.
  auto routers = node.client().request("GET", "/troupe/routers").body;
  auto field = [&](const std::string& key) {
    auto at = routers.find("\"" + key + "\":");
    return at == std::string::npos ? -1 : std::stoi(routers.substr(at + key.size() + 3));
  };
  EXPECT_GE(field("Requests"), 2) << routers;
  EXPECT_LE(field("Requests") + field("Refused"), 20) << routers;
  auto after = node.client().request("POST", invoke_path("f"), "{}");
  EXPECT_EQ(after.status, 200) << "the node serves on: " << after.body;
}

/// The instances the router of `name` has, as GET /troupe/routers says.
int instances_of(node_process& node, const std::string& name) {
  auto body = node.client().request("GET", "/troupe/routers").body;
  auto at = body.find("\"FunctionName\":\"" + name + "\"");
  auto field = body.find("\"Instances\":", at);
  return at == std::string::npos || field == std::string::npos ? -1
                                                               : std::stoi(body.substr(field + 12));
}

TEST_F(AdmissionTest, LaunchesArePacedPerFunctionAndPerHost) {
  // One start every two seconds: four requests at once are served by the
  // first instance one after the other (0.6 s each) while the second waits
  // for its turn to start, and the rest never start, or not yet.
  for (const auto& pace :
       {std::vector<std::string>{"--router.launch-rate=0.5", "--router.launch-burst=1"},
        std::vector<std::string>{"--host.launch-rate=0.5", "--host.launch-burst=1"}}) {
    temp_dir dir;
    node_process node{dir.path(), pace};
    deploy(node, "f");
    auto rs = together(node, "f", 4, 0.6);
    EXPECT_EQ(with_status(rs, 200), 4) << pace[0];
    auto n = instances_of(node, "f");
    EXPECT_GE(n, 1) << pace[0];
    EXPECT_LE(n, 2) << pace[0] << ": unpaced, all four would start at once";
  }
}

TEST_F(AdmissionTest, ATenantsConcurrencyIsHeldAtTheIngress) {
  node_process node{data.path(), {"--admission.tenant-concurrency=2"}};
  deploy(node, "f");
  auto rs = together(node, "f", 4, 1.5);
  EXPECT_EQ(with_status(rs, 200), 2);
  EXPECT_EQ(with_status(rs, 429), 2);
  for (const auto& r : rs) {
    if (r.status == 429) {
      EXPECT_NE(r.body.find("ConcurrentInvocationLimitExceeded"), std::string::npos) << r.body;
      EXPECT_EQ(header(r, "Retry-After"), "1");
    }
  }
}

TEST_F(AdmissionTest, ATenantsRequestRateIsHeldAtTheIngress) {
  node_process node{data.path(), {"--admission.tenant-rate=0.5", "--admission.tenant-burst=2"}};
  deploy(node, "f");
  std::vector<int> statuses;
  std::string refused;
  for (int i = 0; i < 4; ++i) {
    auto r = node.client().request("POST", invoke_path("f"), "{}");
    statuses.push_back(r.status);
    if (r.status == 429)
      refused = r.body;
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429, 429}));
  EXPECT_NE(refused.find(R"("Reason":"CallerRateLimitExceeded")"), std::string::npos) << refused;
}

} // namespace
