// Tenant network access end to end: a function's outbound connections leave
// its sandbox only through the egress proxy and the gateway, as its tenant's
// egress rules allow; destination servers are started by the test.
#include "node_process.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <future>
#include <mutex>
#include <netinet/in.h>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace troupe;
using namespace troupe::test;

namespace {

/// Bounds connection `c` by 10 s socket timeouts and reads an HTTP
/// request's head from it; false if it ends first.
bool read_request_head(int c) {
  timeval limit{10, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    auto n = ::read(c, buf, sizeof buf);
    if (n <= 0)
      return false;
    got.append(buf, size_t(n));
  }
  return true;
}

/// A destination server on 127.0.0.2 (outside every sandbox, whose own
/// 127.0.0.0/8 is its loopback): answers each HTTP request with `body`, one
/// connection at a time, each bounded by a 10 s socket timeout.
class test_server {
public:
  explicit test_server(std::string body) : body_(std::move(body)) {
    fd_ = listen_tcp(0x7f000002, port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~test_server() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int served() const { return served_; }

private:
  void serve() {
    while (!stopping_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        return;
      read_request_head(c);
      // Counted before the answer goes out: a caller that has the answer
      // must see its request counted.
      ++served_;
      auto reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_.size()) +
                   "\r\nConnection: close\r\n\r\n" + body_;
      for (size_t at = 0; at < reply.size();) {
        auto n = ::send(c, reply.data() + at, reply.size() - at, MSG_NOSIGNAL);
        if (n <= 0)
          break;
        at += size_t(n);
      }
      ::close(c);
    }
  }

  std::string body_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

/// A destination on 127.0.0.2 that answers every connection (each on a
/// thread of its own) with `bytes` bytes, written in 32 KiB pieces over
/// about `ms` milliseconds: connections that stay open long enough for a
/// test to act while they stream.
class slow_server {
public:
  slow_server(size_t bytes, int ms) : bytes_(bytes), ms_(ms) {
    fd_ = listen_tcp(0x7f000002, port_);
    acceptor_ = std::thread([this] {
      for (;;) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0)
          return;
        ++accepted_;
        std::lock_guard<std::mutex> lock(mu_);
        workers_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~slow_server() {
    shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : workers_)
      w.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

  /// Waits (at most `limit`) until `n` connections sent their request:
  /// open end to end.
  bool await_requests(int n, std::chrono::seconds limit) const {
    auto until = std::chrono::steady_clock::now() + limit;
    while (requested_ < n && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return requested_ >= n;
  }

private:
  void serve(int c) {
    if (!read_request_head(c))
      return (void)::close(c);
    ++requested_;
    auto head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(bytes_) +
                "\r\nConnection: close\r\n\r\n";
    bool ok = ::send(c, head.data(), head.size(), MSG_NOSIGNAL) == ssize_t(head.size());
    std::string piece(32 * 1024, 'x');
    auto pieces = (bytes_ + piece.size() - 1) / piece.size();
    for (size_t sent = 0; ok && sent < bytes_;) {
      auto n = std::min(piece.size(), bytes_ - sent);
      ok = ::send(c, piece.data(), n, MSG_NOSIGNAL) == ssize_t(n);
      sent += n;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms_ / int(pieces)));
    }
    ::close(c);
  }

  size_t bytes_;
  int ms_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> requested_{0};
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

/// A Python function that fetches `url` through the proxy the platform
/// names in its environment (plain requests with urllib, or through a
/// CONNECT tunnel with http.client), or tries a direct socket.
const char* fetch_py =
    R"(import hashlib, os, socket, threading, http.client, urllib.parse, urllib.request, urllib.error
def tunnel_get(host, port):
    proxy = urllib.parse.urlparse(os.environ['HTTPS_PROXY'])
    conn = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=20)
    conn.set_tunnel(host, port)
    try:
        conn.request('GET', '/')
        r = conn.getresponse()
        body = r.read()
        return {'status': r.status, 'bytes': len(body)}
    except Exception as x:
        return {'status': 0, 'error': x.__class__.__name__ + ': ' + str(x)}
def handler(e, c):
    if e.get('streams'):
        out = [None] * e['streams']
        def one(i):
            out[i] = tunnel_get(e['host'], e['port'])
        ts = [threading.Thread(target=one, args=(i,)) for i in range(e['streams'])]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out
    if e.get('direct'):
        try:
            socket.create_connection((e['host'], e['port']), timeout=2).close()
            return {'direct': 'connected'}
        except OSError as x:
            return {'direct': x.__class__.__name__ + ': ' + str(x)}
    if e.get('tunnel'):
        proxy = urllib.parse.urlparse(os.environ['HTTPS_PROXY'])
        conn = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=10)
        conn.set_tunnel(e['host'], e['port'])
        try:
            conn.request('GET', '/')
            r = conn.getresponse()
            body = r.read()
            return {'status': r.status, 'sha256': hashlib.sha256(body).hexdigest(), 'bytes': len(body)}
        except OSError as x:
            return {'status': 0, 'error': str(x)}
    try:
        with urllib.request.urlopen(e['url'], timeout=10) as r:
            body = r.read()
            return {'status': r.status, 'sha256': hashlib.sha256(body).hexdigest(), 'bytes': len(body)}
    except urllib.error.HTTPError as err:
        return {'status': err.code, 'body': err.read().decode()}
)";

class EgressTest : public ::testing::Test {
protected:
  temp_dir data;
  std::unique_ptr<node_process> node;

  void SetUp() override {
    node = std::make_unique<node_process>(data.path());
    auto r = node->client().request(
        "POST", functions_path,
        create_body("fetch", "python3", "app.handler", make_zip({{"app.py", fetch_py}}), 20));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string invoke(const std::string& event) {
    auto r = node->client().request("POST", invoke_path("fetch"), event);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(header(r, "X-Amz-Function-Error"), "") << r.body;
    return r.body;
  }

  void allow(const std::string& rules_json) {
    auto r =
        node->client().request("PUT", "/troupe/egress/default", "{\"Rules\":" + rules_json + "}");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  static std::string url(const test_server& s, const std::string& path = "/") {
    return "http://127.0.0.2:" + std::to_string(s.port()) + path;
  }
};

} // namespace

TEST_F(EgressTest, DeniedByDefaultAllowedByARuleAndRulesApplyToTheNextConnection) {
  test_server allowed{"hello through the gateway"};
  test_server other{"never reached"};
  auto denied = invoke(R"({"url":")" + url(allowed) + R"("})");
  EXPECT_NE(denied.find(R"("status": 403)"), std::string::npos) << denied;
  EXPECT_NE(denied.find("EgressDenied"), std::string::npos) << denied;
  EXPECT_NE(denied.find("no egress rule of tenant default allows 127.0.0.2:" +
                        std::to_string(allowed.port())),
            std::string::npos)
      << denied;
  EXPECT_EQ(allowed.served(), 0);

  allow("[\"127.0.0.2:" + std::to_string(allowed.port()) + "\"]");
  auto fetched = invoke(R"({"url":")" + url(allowed, "/x?y=1") + R"("})");
  EXPECT_NE(fetched.find(R"("status": 200)"), std::string::npos) << fetched;
  EXPECT_NE(fetched.find(R"("bytes": 25)"), std::string::npos) << fetched;
  auto tunnelled =
      invoke(R"({"tunnel":1,"host":"127.0.0.2","port":)" + std::to_string(allowed.port()) + "}");
  EXPECT_NE(tunnelled.find(R"("status": 200)"), std::string::npos) << tunnelled;
  EXPECT_EQ(allowed.served(), 2);
  // The rule names one port: the other server stays out of reach.
  auto elsewhere = invoke(R"({"url":")" + url(other) + R"("})");
  EXPECT_NE(elsewhere.find(R"("status": 403)"), std::string::npos) << elsewhere;
  auto tunnel_elsewhere =
      invoke(R"({"tunnel":1,"host":"127.0.0.2","port":)" + std::to_string(other.port()) + "}");
  EXPECT_NE(tunnel_elsewhere.find("403"), std::string::npos) << tunnel_elsewhere;
  EXPECT_EQ(other.served(), 0);

  allow("[]"); // taken back: the next connection is refused again
  auto again = invoke(R"({"url":")" + url(allowed) + R"("})");
  EXPECT_NE(again.find(R"("status": 403)"), std::string::npos) << again;
  EXPECT_EQ(allowed.served(), 2);
}

TEST_F(EgressTest, ALargeAnswerStreamsThroughIntact) {
  std::string body(24u << 20, '\0'); // 24 MB: many windows' worth
  for (size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>((i * 2654435761u) >> 13);
  test_server big{body};
  allow("[\"127.0.0.0/8\"]");
  auto plain = invoke(R"({"url":")" + url(big) + R"("})");
  EXPECT_NE(plain.find(R"("bytes": 25165824)"), std::string::npos) << plain;
  auto tunnelled =
      invoke(R"({"tunnel":1,"host":"127.0.0.2","port":)" + std::to_string(big.port()) + "}");
  EXPECT_NE(tunnelled.find(R"("bytes": 25165824)"), std::string::npos) << tunnelled;
  // Both carried the same bytes.
  auto digest = [](const std::string& out) {
    auto at = out.find(R"("sha256": ")");
    return at == std::string::npos ? std::string{} : out.substr(at + 11, 64);
  };
  EXPECT_EQ(digest(plain).size(), 64u) << plain;
  EXPECT_EQ(digest(plain), digest(tunnelled));
}

TEST_F(EgressTest, NoDirectSocketLeavesTheSandbox) {
  test_server s{"x"};
  allow("[\"127.0.0.0/8\", \"0.0.0.0/0\"]"); // rules open everything: only the proxy leads out
  auto same_host =
      invoke(R"({"direct":1,"host":"127.0.0.2","port":)" + std::to_string(s.port()) + "}");
  EXPECT_NE(same_host.find("ConnectionRefusedError"), std::string::npos) << same_host;
  auto outside = invoke(R"({"direct":1,"host":"192.0.2.1","port":80})");
  EXPECT_NE(outside.find("Network is unreachable"), std::string::npos) << outside;
  EXPECT_EQ(s.served(), 0);
  auto proxied = invoke(R"({"url":")" + url(s) + R"("})"); // the one way out works
  EXPECT_NE(proxied.find(R"("status": 200)"), std::string::npos) << proxied;
}

namespace {

std::string streams_event(const slow_server& s, int n) {
  return R"({"streams":)" + std::to_string(n) + R"(,"host":"127.0.0.2","port":)" +
         std::to_string(s.port()) + "}";
}

} // namespace

TEST(EgressLimits, ATenantHasAtMostItsConnectionsOpenThroughAGateway) {
  temp_dir data;
  node_process node{data.path(), {"--gateway.tenant-connections=2"}};
  auto r = node.client().request(
      "POST", functions_path,
      create_body("fetch", "python3", "app.handler", make_zip({{"app.py", fetch_py}}), 30));
  ASSERT_EQ(r.status, 201) << r.body;
  r = node.client().request("PUT", "/troupe/egress/default", R"({"Rules":["127.0.0.2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  slow_server slow{256 * 1024, 1500};
  // Three at once: two stream, the third is refused with a clear answer.
  auto three = node.client().request("POST", invoke_path("fetch"), streams_event(slow, 3));
  EXPECT_EQ(three.status, 200) << three.body;
  EXPECT_EQ(count(three.body, R"("bytes": 262144)"), 2u) << three.body;
  EXPECT_EQ(count(three.body, "Tunnel connection failed: 429 Too Many Requests"), 1u) << three.body;
  EXPECT_EQ(slow.accepted(), 2);
  // Closed connections give their slots back.
  auto two = node.client().request("POST", invoke_path("fetch"), streams_event(slow, 2));
  EXPECT_EQ(count(two.body, R"("bytes": 262144)"), 2u) << two.body;
}

/// A cluster whose outbound connections leave through two gateway nodes of
/// their own (plain BASP: the cluster tests cover TLS).
class GatewayNodesTest : public ::testing::Test {
protected:
  temp_dir dir;
  std::unique_ptr<node_process> ctl, host;
  std::unique_ptr<node_process> gw[2];

  std::vector<std::string> joining(const std::string& roles) const {
    return {"--node.roles=" + roles, "--cluster.plaintext", "--cluster.listen=127.0.0.1:0",
            "--cluster.controller=127.0.0.1:" + std::to_string(ctl->cluster_port())};
  }

  std::unique_ptr<node_process> start_gateway(int i) {
    auto args = joining("gateway");
    args.insert(args.end(), {"--gateway.id=gw-" + std::to_string(i + 1),
                             "--gateway.connect-timeout=1s", "--metrics.listen=127.0.0.1:0"});
    return std::make_unique<node_process>(dir.path() / ("gw-" + std::to_string(i + 1)), args);
  }

  void SetUp() override {
    ctl = std::make_unique<node_process>(dir.path() / "ctl",
                                         std::vector<std::string>{"--node.roles=controller,ingress",
                                                                  "--cluster.plaintext",
                                                                  "--cluster.listen=127.0.0.1:0"});
    for (int i = 0; i < 2; ++i)
      gw[i] = start_gateway(i);
    auto args = joining("host");
    args.insert(args.end(), {"--host.id=host-a", "--host.warm-runtimes=python3",
                             "--gateway.connect-timeout=1s", "--metrics.listen=127.0.0.1:0"});
    host = std::make_unique<node_process>(dir.path() / "host-a", args);
    ASSERT_TRUE(await_gateways(2)) << gateways();
    auto r = ctl->client().request(
        "POST", functions_path,
        create_body("fetch", "python3", "app.handler", make_zip({{"app.py", fetch_py}}), 30));
    ASSERT_EQ(r.status, 201) << r.body;
    r = ctl->client().request("PUT", "/troupe/egress/default", R"({"Rules":["127.0.0.2"]})");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string gateways() { return ctl->client().request("GET", "/troupe/gateways").body; }

  bool await_gateways(size_t n) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (count(gateways(), "\"Id\":") == n)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  /// Pairs of connections, until the host's list of gateways (read every
  /// second) has both: each has opened one (bounded).
  void await_host_uses_both() {
    slow_server quick{1024, 10};
    const std::string opened = R"(troupe_egress_connections_total{outcome="opened"})";
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
      auto warm = invoke_async(streams_event(quick, 2)).get();
      ASSERT_EQ(count(warm.body, R"("bytes": 1024)"), 2u) << warm.body;
      if ((metric(*gw[0], opened) > 0 && metric(*gw[1], opened) > 0) ||
          std::chrono::steady_clock::now() > until)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  /// Invokes `fetch` with `event` on a thread of its own (it streams for a while).
  std::future<net::http_response> invoke_async(std::string event) {
    auto port = ctl->port();
    return std::async(std::launch::async, [port, event] {
      net::http_client cl{"127.0.0.1", port, std::chrono::seconds(60)};
      return cl.request("POST", invoke_path("fetch"), event);
    });
  }
};

TEST_F(GatewayNodesTest, AHostSpreadsConnectionsAndAKilledGatewayBreaksOnlyItsOwn) {
  await_host_uses_both();
  slow_server slow{2u << 20, 4000};
  auto running = invoke_async(streams_event(slow, 4));
  ASSERT_TRUE(slow.await_requests(4, std::chrono::seconds(30)));
  gw[0]->kill9(); // mid-stream: its two connections break, the other two go on
  auto r = running.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(count(r.body, R"("bytes": 2097152)"), 2u) << r.body;
  EXPECT_EQ(count(r.body, R"("status": 0)"), 2u) << r.body;
  ASSERT_TRUE(await_gateways(1)) << gateways();
  // New connections go to the gateway that is left.
  auto after = invoke_async(streams_event(slow, 2)).get();
  EXPECT_EQ(count(after.body, R"("bytes": 2097152)"), 2u) << after.body;
}

TEST_F(GatewayNodesTest, AConnectionMovesToAnotherGatewayWhenOneDoesNotAnswer) {
  slow_server slow{64 * 1024, 100};
  // Warm first, so that the connections below start at once (before the
  // stalled node is cut off, 1 s on, by the missed heartbeats).
  await_host_uses_both();
  ASSERT_EQ(kill(gw[1]->pid(), SIGSTOP), 0);
  // Two at once: one is sent to the stalled gateway first, and moves on.
  auto r = invoke_async(streams_event(slow, 2)).get();
  kill(gw[1]->pid(), SIGCONT);
  EXPECT_EQ(count(r.body, R"("bytes": 65536)"), 2u) << r.body;
  EXPECT_GE(metric(*host, "troupe_egress_failovers_total"), 1) << r.body;
}

TEST_F(GatewayNodesTest, AGatewayClosesTheConnectionsOfAHostThatIsGone) {
  slow_server slow{2u << 20, 4000};
  auto running = invoke_async(streams_event(slow, 2));
  ASSERT_TRUE(slow.await_requests(2, std::chrono::seconds(30)));
  auto open = [&] {
    return metric(*gw[0], "troupe_egress_open_connections") +
           metric(*gw[1], "troupe_egress_open_connections");
  };
  EXPECT_EQ(open(), 2);
  host->kill9();
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (open() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(open(), 0); // long before the destination's 4 s, or the idle timeout
  EXPECT_EQ(running.get().status, 502);
}
