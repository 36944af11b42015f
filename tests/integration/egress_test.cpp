// Tenant network access end to end: a function's outbound connections leave
// its sandbox only through the egress proxy and the gateway, as its tenant's
// egress rules allow; destination servers are started by the test.
#include "node_process.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>

using namespace troupe;
using namespace troupe::test;

namespace {

/// A destination server on 127.0.0.2 (outside every sandbox, whose own
/// 127.0.0.0/8 is its loopback): answers each HTTP request with `body`, one
/// connection at a time, each bounded by a 10 s socket timeout.
class test_server {
public:
  explicit test_server(std::string body) : body_(std::move(body)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000002);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) < 0 || listen(fd_, 64) < 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) < 0)
      throw std::runtime_error("test server: cannot listen");
    port_ = ntohs(a.sin_port);
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
      timeval limit{10, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0)
          break;
        got.append(buf, size_t(n));
      }
      auto reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_.size()) +
                   "\r\nConnection: close\r\n\r\n" + body_;
      for (size_t at = 0; at < reply.size();) {
        auto n = ::write(c, reply.data() + at, reply.size() - at);
        if (n <= 0)
          break;
        at += size_t(n);
      }
      ++served_;
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

/// A Python function that fetches `url` through the proxy the platform
/// names in its environment (plain requests with urllib, or through a
/// CONNECT tunnel with http.client), or tries a direct socket.
const char* fetch_py =
    R"(import hashlib, os, socket, http.client, urllib.parse, urllib.request, urllib.error
def handler(e, c):
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
