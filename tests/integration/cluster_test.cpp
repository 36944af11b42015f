// End-to-end tests of a cluster on loopback: a controller node (with or
// without the ingress), ingress nodes and host nodes, joined through CAF's
// middleman with TLS and mutual certificates made by deploy/make-certs.sh,
// running real sandboxes.
#include "node_process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono;

namespace {

const std::string& functions = functions_path;

/// A Python function that sleeps for the event's "sleep" seconds, then echoes it.
std::string sleepy_zip() {
  return make_zip({{"sleepy.py", "import time\n"
                                 "def handler(e, c):\n"
                                 "  time.sleep(e.get('sleep', 0))\n"
                                 "  return e\n"}});
}

class ClusterTest : public ::testing::Test {
protected:
  temp_dir dir;

  void SetUp() override {
    auto [status, out] = run(std::string(TROUPE_SOURCE_DIR) + "/deploy/make-certs.sh " + certs() +
                             " ctl host-a host-b ing-1 ing-2");
    ASSERT_EQ(status, 0) << out;
  }

  std::string certs() const { return (dir.path() / "certs").string(); }

  /// The TLS settings of node `name`, with certificates under `in`.
  static std::vector<std::string> tls(const std::string& in, const std::string& name) {
    return {"--openssl.certificate=" + in + "/" + name + ".pem",
            "--openssl.key=" + in + "/" + name + ".key", "--openssl.cafile=" + in + "/ca.pem"};
  }

  /// The controller's node, with the ingress unless `roles` says otherwise;
  /// `extra` settings are added.
  std::unique_ptr<node_process> start_controller(const std::string& roles = "controller,ingress",
                                                 uint16_t port = 0,
                                                 std::vector<std::string> extra = {}) {
    auto args = tls(certs(), "ctl");
    args.insert(args.end(),
                {"--node.roles=" + roles, "--cluster.listen=127.0.0.1:" + std::to_string(port)});
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<node_process>(dir.path() / "ctl", args);
  }

  /// An ingress node of its own, joining the controller at `ctl_port`.
  std::unique_ptr<node_process> start_ingress(uint16_t ctl_port, const std::string& name) {
    auto args = tls(certs(), name);
    args.insert(args.end(), {"--node.roles=ingress",
                             "--cluster.controller=127.0.0.1:" + std::to_string(ctl_port)});
    return std::make_unique<node_process>(dir.path() / name, args);
  }

  /// A host node joining `ctl`; `extra` replaces or adds settings.
  std::unique_ptr<node_process> start_host(const node_process& ctl, const std::string& id,
                                           std::vector<std::string> extra = {}) {
    return start_host(ctl.cluster_port(), id, std::move(extra));
  }

  std::unique_ptr<node_process> start_host(uint16_t ctl_port, const std::string& id,
                                           std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--node.roles=host",
                                  "--host.id=" + id,
                                  "--host.warm-runtimes=python3",
                                  "--host.pool-size=1",
                                  "--cluster.listen=127.0.0.1:0",
                                  "--cluster.controller=127.0.0.1:" + std::to_string(ctl_port)};
    if (extra.empty())
      extra = tls(certs(), id);
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<node_process>(dir.path() / id, args);
  }

  /// The body of GET /troupe/hosts.
  static std::string hosts(node_process& ctl) {
    auto r = ctl.client().request("GET", "/troupe/hosts");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }

  /// Waits (bounded) until the controller lists exactly `n` hosts.
  static bool await_hosts(node_process& ctl, size_t n, seconds limit = seconds(20)) {
    auto until = steady_clock::now() + limit;
    while (steady_clock::now() < until) {
      if (count(hosts(ctl), "\"Id\":") == n)
        return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  /// Whether GET /troupe/nodes comes to hold `text` within `limit`.
  static bool await_nodes(node_process& ctl, const std::string& text, seconds limit = seconds(10)) {
    auto until = steady_clock::now() + limit;
    while (steady_clock::now() < until) {
      if (ctl.client().request("GET", "/troupe/nodes").body.find(text) != std::string::npos)
        return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  static void deploy_sleepy(node_process& ctl) {
    auto r = ctl.client().request(
        "POST", functions, create_body("sleepy", "python3.11", "sleepy.handler", sleepy_zip()));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  /// Waits (bounded) until `ingress` has the control plane again: it lists hosts.
  static bool await_control_plane(node_process& ingress, seconds limit = seconds(20)) {
    auto until = steady_clock::now() + limit;
    while (steady_clock::now() < until) {
      if (ingress.client().request("GET", "/troupe/hosts").status == 200)
        return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  struct two_hosts {
    std::unique_ptr<node_process> ctl, a, b;
  };

  /// The controller, host-a and host-b, with sleepy deployed and `per_host`
  /// idle instances of it on each (made together, so the scheduler spreads them).
  two_hosts start_two_hosts(int per_host) {
    two_hosts c{start_controller(), nullptr, nullptr};
    c.a = start_host(*c.ctl, "host-a");
    c.b = start_host(*c.ctl, "host-b");
    if (!await_hosts(*c.ctl, 2))
      throw std::runtime_error("the hosts did not join: " + hosts(*c.ctl));
    deploy_sleepy(*c.ctl);
    for (const auto& r : invoke_together(c.ctl->port(), 2 * per_host, 0.3))
      if (r.status != 200)
        throw std::runtime_error("warming up sleepy: " + r.body);
    return c;
  }

  /// `n` concurrent invocations of sleepy; their statuses and bodies.
  static std::vector<net::http_response> invoke_together(uint16_t port, int n, double sleep_s,
                                                         std::function<void()> meanwhile = {}) {
    std::vector<net::http_response> out(static_cast<size_t>(n));
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
      ts.emplace_back([&, i] {
        net::http_client cl{"127.0.0.1", port, seconds(30)};
        out[size_t(i)] = cl.request("POST", functions + "/sleepy/invocations",
                                    "{\"sleep\":" + std::to_string(sleep_s) + "}");
      });
    if (meanwhile)
      meanwhile();
    for (auto& t : ts)
      t.join();
    return out;
  }
};

TEST_F(ClusterTest, APeerThatStallsItsTlsHandshakeIsCutOff) {
  // A TCP connection to the door that never says anything: caf_openssl would
  // wait for it for good (spinning on the writable socket); the node's guard
  // ends the handshake after 10 s and the connection is closed.
  auto ctl = start_controller();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ctl->cluster_port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval limit{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) // whatever the server sent first
    ;
  int err = errno;
  ::close(fd);
  EXPECT_TRUE(n == 0 || (n < 0 && err == ECONNRESET))
      << "still open after 30 s: " << std::strerror(err);
  // The door still takes well-behaved nodes.
  auto a = start_host(*ctl, "host-a");
  EXPECT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
}

TEST_F(ClusterTest, HostsJoinOverTlsAndInstancesSpreadOverThem) {
  auto ctl = start_controller();
  ASSERT_NE(ctl->cluster_port(), 0);
  auto a = start_host(*ctl, "host-a");
  auto b = start_host(*ctl, "host-b");
  ASSERT_TRUE(await_hosts(*ctl, 2)) << hosts(*ctl);
  deploy_sleepy(*ctl);
  for (const auto& r : invoke_together(ctl->port(), 4, 1.0))
    EXPECT_EQ(r.status, 200) << r.body;
  // Four instances, spread two and two; each host holds the package once.
  auto listed = hosts(*ctl);
  EXPECT_EQ(count(listed, "\"Instances\":2"), 2u) << listed;
  for (const auto* id : {"host-a", "host-b"}) {
    size_t packages = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / id / "packages"))
      packages += e.path().extension() == ".index" ? 1 : 0;
    EXPECT_EQ(packages, 1u) << id;
  }
  // Each host keeps its instances' logs; the operator route gathers them
  // (each record lands just after its answer).
  auto logs = get_until(*ctl, "/troupe/logs?function=default/sleepy",
                        [](auto& r) { return count(r.body, "START RequestId: ") >= 4; });
  ASSERT_EQ(logs.status, 200) << logs.body;
  EXPECT_EQ(count(logs.body, "\"Host\":\"host-a\""), 1u) << logs.body;
  EXPECT_EQ(count(logs.body, "\"Host\":\"host-b\""), 1u) << logs.body;
  EXPECT_EQ(count(logs.body, "START RequestId: "), 4u) << logs.body;
  EXPECT_EQ(count(logs.body, "\\tInit Duration: "), 4u) << logs.body; // four cold starts
  auto none = ctl->client().request("GET", "/troupe/logs?function=nobody");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, R"({"Function":"default/nobody","Hosts":[]})");
  EXPECT_EQ(ctl->client().request("GET", "/troupe/logs?function=../etc").status, 400);
  EXPECT_EQ(ctl->client().request("GET", "/troupe/logs?function=a/b&max-bytes=0").status, 400);
}

TEST_F(ClusterTest, AHostThatFailsEveryStartOpensItsBreakerAndTrafficFlowsToTheOther) {
  auto ctl = start_controller("controller,ingress", 0, {"--router.breaker-failures=2"});
  auto good = start_host(*ctl, "host-a");
  // One process per sandbox: the runtime cannot be forked, every start fails.
  auto broken = tls(certs(), "host-b");
  broken.push_back("--host.pids-max=1");
  auto bad = start_host(*ctl, "host-b", broken);
  ASSERT_TRUE(await_hosts(*ctl, 2)) << hosts(*ctl);
  deploy_sleepy(*ctl);
  // Ten at once: the scheduler spreads their launches over both hosts; those
  // on host-b fail and are made again on host-a, and every request is served.
  for (const auto& r : invoke_together(ctl->port(), 10, 0.2))
    EXPECT_EQ(r.status, 200) << r.body;
  for (int i = 0; i < 5; ++i) {
    auto r = ctl->client().request("POST", functions + "/sleepy/invocations", "{}");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  auto listed = hosts(*ctl);
  EXPECT_NE(listed.find(R"("Id":"host-b","Zone":"local","Slots":64,"FreeSlots":64)"),
            std::string::npos)
      << listed;
  // The scheduler's breaker of host-b's launches (all functions') opened too.
  auto b_at = listed.find(R"("Id":"host-b")");
  EXPECT_NE(listed.find(R"("BreakerReason":"2 consecutive platform failures")", b_at),
            std::string::npos)
      << listed;
  auto routers = ctl->client().request("GET", "/troupe/routers");
  ASSERT_EQ(routers.status, 200) << routers.body;
  auto& b = routers.body;
  EXPECT_NE(b.find(R"("FunctionName":"sleepy","Requests":15)"), std::string::npos) << b;
  EXPECT_EQ(b.find(R"("LaunchFailures":0)"), std::string::npos) << b;
  EXPECT_EQ(b.find(R"("RetriesRefused":0)") != std::string::npos, true) << b;
  auto at = b.find(R"("Host":"host-b")");
  ASSERT_NE(at, std::string::npos) << b;
  EXPECT_EQ(b.find(R"("State":"closed")", at), std::string::npos) << b;
  EXPECT_NE(b.find("consecutive platform failures", at), std::string::npos) << b;
}

TEST_F(ClusterTest, NodeWithoutAValidCertificateReachesNoActor) {
  auto ctl = start_controller();
  auto [status, out] = run(std::string(TROUPE_SOURCE_DIR) + "/deploy/make-certs.sh " +
                           (dir.path() / "rogue").string() + " host-a");
  ASSERT_EQ(status, 0) << out;
  // Signed by another CA, and without TLS at all: neither ever joins.
  auto rogue = start_host(*ctl, "host-a", tls((dir.path() / "rogue").string(), "host-a"));
  auto plain = start_host(*ctl, "host-b", {"--cluster.plaintext"});
  std::this_thread::sleep_for(seconds(3)); // several connect attempts each
  EXPECT_EQ(count(hosts(*ctl), "\"Id\":"), 0u) << hosts(*ctl);
  // A node with a good certificate still gets in.
  rogue.reset();
  auto good = start_host(*ctl, "host-a");
  EXPECT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
}

TEST_F(ClusterTest, KilledHostIsDroppedItsRequestsEndAtOnceTheOtherServes) {
  auto [ctl, a, b] = start_two_hosts(2);
  // Four requests in flight on the four instances (two per host, none still
  // launching) when host-a dies: each gets its result or an explicit error,
  // none hangs.
  auto results = invoke_together(ctl->port(), 4, 1.5, [&] {
    std::this_thread::sleep_for(milliseconds(500));
    a->kill9();
  });
  int ok = 0, lost = 0;
  for (const auto& r : results) {
    if (r.status == 200)
      ++ok;
    // Those on host-a may have run: an explicit error at once, never a retry
    // or a wait for the deadline.
    else if (r.status == 502 && r.body.find("may have run") != std::string::npos)
      ++lost;
    else
      ADD_FAILURE() << r.status << " " << r.body;
  }
  EXPECT_EQ(ok, 2) << "host-b's";
  EXPECT_EQ(lost, 2) << "host-a's";
  EXPECT_TRUE(await_hosts(*ctl, 1, seconds(5))) << hosts(*ctl);
  EXPECT_EQ(count(hosts(*ctl), "host-b"), 1u);
  EXPECT_TRUE(await_nodes(*ctl, R"("Name":"host-a","State":"down")"))
      << ctl->client().request("GET", "/troupe/nodes").body;
  EXPECT_TRUE(await_nodes(*ctl, R"("Name":"host-b","State":"up")"));
  for (const auto& r : invoke_together(ctl->port(), 3, 0)) // served by host-b alone
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ClusterTest, SilentHostIsDroppedAndJoinsAgainWhenItWakes) {
  auto ctl = start_controller();
  auto a = start_host(*ctl, "host-a");
  ASSERT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
  ::kill(a->pid(), SIGSTOP); // alive, connected, silent: only heartbeats can tell
  EXPECT_TRUE(await_hosts(*ctl, 0, seconds(10))) << hosts(*ctl);
  EXPECT_TRUE(await_nodes(*ctl, R"("Name":"host-a","State":"down")"))
      << ctl->client().request("GET", "/troupe/nodes").body;
  ::kill(a->pid(), SIGCONT);
  EXPECT_TRUE(await_hosts(*ctl, 1, seconds(10))) << hosts(*ctl);
  // Listed once, up again, having joined twice.
  EXPECT_TRUE(await_nodes(*ctl, R"("Name":"host-a","State":"up")"));
  auto nodes = ctl->client().request("GET", "/troupe/nodes").body;
  EXPECT_EQ(count(nodes, "\"host-a\""), 1u) << nodes;
  EXPECT_NE(nodes.find(R"("Name":"controller","State":"up")"), std::string::npos) << nodes;
  EXPECT_NE(nodes.find(R"("Joins":2)"), std::string::npos) << nodes;
  deploy_sleepy(*ctl);
  for (const auto& r : invoke_together(ctl->port(), 1, 0))
    EXPECT_EQ(r.status, 200) << r.body;
}

const std::string from_origin = R"(troupe_package_fetched_bytes_total{source="origin"})";
const std::string from_peers = R"(troupe_package_fetched_bytes_total{source="peer"})";

TEST_F(ClusterTest, AHostReadsAPackageFromAPeerThatHoldsItAndSkipsAStalledPeer) {
  auto ctl = start_controller();
  auto with_metrics = [&](const std::string& id) {
    auto args = tls(certs(), id);
    args.push_back("--metrics.listen=127.0.0.1:0");
    return start_host(*ctl, id, args);
  };
  auto a = with_metrics("host-a");
  ASSERT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
  deploy_sleepy(*ctl);
  auto other = make_zip({{"other.py", "def handler(e, c):\n  return {'other': True}\n"}});
  auto created = ctl->client().request("POST", functions,
                                       create_body("other", "python3.11", "other.handler", other));
  ASSERT_EQ(created.status, 201) << created.body;
  for (auto name : {"sleepy", "other"})
    ASSERT_EQ(ctl->client().request("POST", invoke_path(name), "{}").status, 200) << name;
  EXPECT_GT(metric(*a, from_origin), 0); // the first host had nobody else to ask
  EXPECT_EQ(metric(*a, from_peers), 0);

  // host-b starts sleepy while host-a, which holds it, takes no launches.
  auto b = with_metrics("host-b");
  ASSERT_TRUE(await_hosts(*ctl, 2)) << hosts(*ctl);
  ASSERT_EQ(ctl->client().request("POST", "/troupe/hosts/host-a/drain").status, 200);
  // Its idle instances end: until then one may still take the request.
  auto until = steady_clock::now() + seconds(10);
  auto drained = [&] {
    auto listed = hosts(*ctl);
    return listed.find("\"Instances\":0,\"Draining\":true", listed.find("\"host-a\"")) !=
           std::string::npos;
  };
  while (!drained() && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(drained()) << hosts(*ctl);
  auto r = ctl->client().request("POST", invoke_path("sleepy"), "{}");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_GT(metric(*b, from_peers), 0);
  EXPECT_EQ(metric(*b, from_origin), 0);
  EXPECT_GT(metric(*a, "troupe_package_served_bytes_total"), 0);

  // A peer that stops answering is skipped once its read times out, and
  // the package comes from the origin instead.
  ::kill(a->pid(), SIGSTOP);
  r = ctl->client().request("POST", invoke_path("other"), "{}");
  ::kill(a->pid(), SIGCONT);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("other"), std::string::npos) << r.body;
  EXPECT_GE(metric(*b, "troupe_package_peer_failures_total"), 1);
  EXPECT_GT(metric(*b, from_origin), 0);
}

TEST_F(ClusterTest, AChunkThatCannotBeHadFailsTheReadAsAnInitErrorUntilTheOriginReadsRight) {
  auto ctl = start_controller();
  auto args = tls(certs(), "host-a");
  args.push_back("--metrics.listen=127.0.0.1:0");
  auto a = start_host(*ctl, "host-a", args);
  ASSERT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
  deploy_sleepy(*ctl);
  // The origin's copy goes bad in place, as a failing disk's would: every
  // chunk it serves fails its digest.
  std::filesystem::path content;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "ctl" / "packages"))
    if (e.path().extension() == ".content")
      content = e.path();
  ASSERT_FALSE(content.empty());
  auto good = read_file(content);
  auto overwrite = [&](const std::string& bytes) {
    std::fstream f{content, std::ios::in | std::ios::out | std::ios::binary};
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  overwrite(std::string(good.size(), 'X'));
  auto r = ctl->client().request("POST", invoke_path("sleepy"), "{}");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "Unhandled") << r.body;
  EXPECT_NE(r.body.find("Runtime.ImportModuleError"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("Input/output error"), std::string::npos) << r.body;
  EXPECT_GE(metric(*a, "troupe_package_corrupt_chunks_total"), 1);
  EXPECT_GE(metric(*a, "troupe_fuse_read_errors_total"), 1);
  // Nothing bad was kept: once the origin reads right, the next cold start runs.
  overwrite(good);
  r = ctl->client().request("POST", invoke_path("sleepy"), R"({"again":1})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(header(r, "X-Amz-Function-Error"), "") << r.body;
  EXPECT_NE(r.body.find("again"), std::string::npos) << r.body;
}

TEST_F(ClusterTest, HostLostDuringALaunchIsGivenUpAndTheRequestServedElsewhere) {
  auto ctl = start_controller();
  auto a = start_host(*ctl, "host-a");
  ASSERT_TRUE(await_hosts(*ctl, 1)) << hosts(*ctl);
  deploy_sleepy(*ctl);
  // host-a hangs before the request comes: the launch placed on it is never
  // answered. Once host-a is cut off, the router launches on host-b.
  ::kill(a->pid(), SIGSTOP);
  std::unique_ptr<node_process> b;
  auto t0 = steady_clock::now();
  auto results = invoke_together(ctl->port(), 1, 0, [&] { b = start_host(*ctl, "host-b"); });
  EXPECT_EQ(results[0].status, 200) << results[0].body;
  EXPECT_LT(steady_clock::now() - t0, seconds(10)); // not the launch's 30 s timeout
  ::kill(a->pid(), SIGCONT);
}

TEST_F(ClusterTest, DrainedHostFinishesItsWorkAndTakesNoMore) {
  auto [ctl, a, b] = start_two_hosts(1);
  net::http_response drained;
  auto results = invoke_together(ctl->port(), 2, 1.5, [&] {
    std::this_thread::sleep_for(milliseconds(300));
    drained = ctl->client().request("POST", "/troupe/hosts/host-a/drain");
  });
  EXPECT_EQ(drained.status, 200) << drained.body;
  EXPECT_EQ(drained.body, R"({"Id":"host-a","Draining":true})");
  for (const auto& r : results) // host-a's request in hand was finished, not cut
    EXPECT_EQ(r.status, 200) << r.body;
  for (const auto& r : invoke_together(ctl->port(), 3, 0.2))
    EXPECT_EQ(r.status, 200) << r.body;
  auto listed = hosts(*ctl);
  auto at_a = listed.find("\"host-a\"");
  EXPECT_NE(listed.find("\"Instances\":0,\"Draining\":true", at_a), std::string::npos) << listed;
  EXPECT_EQ(ctl->client().request("POST", "/troupe/hosts/host-z/drain").status, 404);
  EXPECT_EQ(ctl->client().request("GET", "/troupe/hosts/host-a/drain").status, 405);
  auto undrained = ctl->client().request("POST", "/troupe/hosts/host-a/undrain");
  EXPECT_EQ(undrained.body, R"({"Id":"host-a","Draining":false})");
}

TEST_F(ClusterTest, SettingsThatCannotFormAClusterAreRefusedAtStart) {
  std::string node = TROUPE_NODE_PATH;
  auto data = " --node.data-dir=" + (dir.path() / "bad").string();
  struct bad {
    std::string args, says;
  } cases[] = {
      {" --cluster.listen=127.0.0.1:0", "a cluster needs TLS"},
      {" --node.roles=host", "needs cluster.controller=host:port"},
      {" --node.roles=ingress,host --cluster.controller=127.0.0.1:1 --cluster.plaintext",
       "a host joining a cluster needs cluster.listen"},
      {" --node.roles=host --cluster.controller=127.0.0.1:1 --cluster.listen=0.0.0.0:0 "
       "--cluster.plaintext",
       "name an address they reach"},
      {" --node.roles=ingress --cluster.controller=127.0.0.1:1 --cluster.listen=127.0.0.1:0 "
       "--cluster.plaintext",
       "cluster.listen is for the controller's node, hosts and gateways"},
      {" --cluster.listen=127.0.0.1:99999 --cluster.plaintext", "is not host:port"},
      {" --node.roles=ingres,host", "unknown role 'ingres'"},
      {" --node.roles=gateway", "needs cluster.controller=host:port"},
      {" --node.roles=gateway --cluster.controller=127.0.0.1:1 --cluster.listen=0.0.0.0:0 "
       "--cluster.plaintext",
       "name an address they reach"},
      {" --gateway.tenant-connections=0", "gateway.tenant-connections must be from 1"},
      {" --cluster.listen=127.0.0.1:0 --openssl.certificate=/nonexistent.pem "
       "--openssl.key=/nonexistent.key --openssl.cafile=/nonexistent-ca.pem",
       "openssl.certificate: cannot read /nonexistent.pem"},
  };
  for (const auto& c : cases) {
    auto [status, out] = run(node + data + c.args);
    EXPECT_EQ(status, 2) << c.args << ": " << out;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.args << ": " << out;
  }
}

/// A Python function that answers which instance ran it and when:
/// "<instance uuid> <start> <end>" (seconds), after sleeping the event's "sleep".
std::string whoami_zip() {
  return make_zip({{"whoami.py", "import time, uuid\n"
                                 "ID = str(uuid.uuid4())\n"
                                 "def handler(e, c):\n"
                                 "  start = time.time()\n"
                                 "  time.sleep(e.get('sleep', 0))\n"
                                 "  return '%s %.6f %.6f' % (ID, start, time.time())\n"}});
}

TEST_F(ClusterTest, WarmInvocationsOutliveTheControllerWhichReconcilesOnItsReturn) {
  auto ctl = start_controller("controller");
  auto ctl_port = ctl->cluster_port();
  auto ing = start_ingress(ctl_port, "ing-1");
  auto a = start_host(ctl_port, "host-a");
  ASSERT_TRUE(await_hosts(*ing, 1)) << hosts(*ing);
  deploy_sleepy(*ing);
  for (const auto& r : invoke_together(ing->port(), 2, 0.3)) // two warm instances on host-a
    ASSERT_EQ(r.status, 200) << r.body;

  ctl->kill9(); // the control plane is gone; ingress and host stay
  auto t0 = steady_clock::now();
  auto refused = ing->client().request(
      "POST", functions, create_body("other", "python3.11", "sleepy.handler", sleepy_zip()));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("controller is unreachable"), std::string::npos) << refused.body;
  // Warm invocations keep flowing, and a third at once needs a cold start:
  // refused at once, not after a timeout.
  for (int round = 0; round < 3; ++round) {
    auto results = invoke_together(ing->port(), 3, 0.5);
    int ok = 0, unavailable = 0;
    for (const auto& r : results) {
      ok += r.status == 200;
      unavailable += r.status == 503;
    }
    EXPECT_EQ(ok, 2) << results[0].body << results[1].body << results[2].body;
    EXPECT_EQ(unavailable, 1);
  }
  EXPECT_LT(steady_clock::now() - t0, seconds(10)); // the place request's timeout is 10 s

  // Back on the same port and data: the host reports its two instances, which
  // are kept; the deploy acknowledged before the crash is there.
  ctl = start_controller("controller", ctl_port);
  ASSERT_TRUE(await_control_plane(*ing)) << "the ingress did not join again";
  ASSERT_TRUE(await_hosts(*ing, 1)) << hosts(*ing);
  auto until = steady_clock::now() + seconds(10);
  while (hosts(*ing).find("\"Instances\":2") == std::string::npos && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(50));
  EXPECT_NE(hosts(*ing).find("\"Instances\":2"), std::string::npos) << hosts(*ing);
  EXPECT_EQ(ing->client().request("GET", functions + "/sleepy").status, 200);
  for (const auto& r : invoke_together(ing->port(), 3, 0.2)) // two warm, one cold start
    EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(hosts(*ing).find("\"Instances\":3"), std::string::npos) << hosts(*ing);
  auto created = ing->client().request(
      "POST", functions, create_body("other", "python3.11", "sleepy.handler", sleepy_zip()));
  EXPECT_EQ(created.status, 201) << created.body;
}

TEST_F(ClusterTest, TwoIngressNodesHoldTheFunctionsLimitAndOneRequestPerInstance) {
  auto ctl = start_controller("controller", 0, {"--router.max-instances=2"});
  auto one = start_ingress(ctl->cluster_port(), "ing-1");
  auto two = start_ingress(ctl->cluster_port(), "ing-2");
  auto a = start_host(*ctl, "host-a");
  auto b = start_host(*ctl, "host-b");
  ASSERT_TRUE(await_hosts(*one, 2)) << hosts(*one);
  auto r = one->client().request(
      "POST", functions, create_body("whoami", "python3.11", "whoami.handler", whoami_zip()));
  ASSERT_EQ(r.status, 201) << r.body;
  // Both ingress nodes at once, more than the two instances the function may have.
  std::vector<net::http_response> results(8);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < results.size(); ++i)
    ts.emplace_back([&, i] {
      net::http_client cl{"127.0.0.1", (i % 2 ? one : two)->port(), seconds(30)};
      results[i] = cl.request("POST", functions + "/whoami/invocations", "{\"sleep\":0.5}");
    });
  for (auto& t : ts)
    t.join();
  struct run {
    double start, end;
  };
  std::map<std::string, std::vector<run>> by_instance;
  int ok = 0;
  for (const auto& res : results) {
    if (res.status == 429) {
      EXPECT_NE(res.body.find("Rate Exceeded"), std::string::npos) << res.body;
      continue;
    }
    ASSERT_EQ(res.status, 200) << res.body;
    ++ok;
    std::istringstream in{res.body.substr(1, res.body.size() - 2)}; // a JSON string
    std::string id;
    run x{};
    in >> id >> x.start >> x.end;
    by_instance[id].push_back(x);
  }
  EXPECT_GE(ok, 2);
  EXPECT_LE(by_instance.size(), 2u) << "the limit holds across both ingress nodes";
  for (auto& [id, runs] : by_instance) { // never two requests in one instance at once
    std::sort(runs.begin(), runs.end(), [](auto& x, auto& y) { return x.start < y.start; });
    for (size_t i = 1; i < runs.size(); ++i)
      EXPECT_GE(runs[i].start, runs[i - 1].end) << id;
  }
  auto listed = hosts(*two);
  EXPECT_EQ(count(listed, "\"Instances\":1"), 2u) << listed; // spread over both hosts
}

} // namespace
