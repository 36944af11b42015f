#include "net/egress_proxy.hpp"
#include "net/io_runtime.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using troupe::net::parse_proxy_head;
using troupe::net::proxy_target;

TEST(ProxyHead, ConnectNamesTheDestinationAndSendsNothingOn) {
  proxy_target t;
  EXPECT_EQ(parse_proxy_head("CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", t), "");
  EXPECT_TRUE(t.tunnel);
  EXPECT_EQ(t.host, "api.example.com");
  EXPECT_EQ(t.port, 443);
  EXPECT_EQ(t.first, "");
  EXPECT_EQ(parse_proxy_head("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n", t), "");
  EXPECT_EQ(t.host, "2001:db8::1");
  EXPECT_EQ(t.port, 8443);
}

TEST(ProxyHead, APlainRequestGoesOnInOriginFormForOneRequestOnly) {
  proxy_target t;
  EXPECT_EQ(parse_proxy_head("GET http://Example.com/a/b?c=1 HTTP/1.1\r\nHost: example.com\r\n"
                             "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n"
                             "Accept: */*\r\n\r\n",
                             t),
            "");
  EXPECT_FALSE(t.tunnel);
  EXPECT_EQ(t.host, "Example.com");
  EXPECT_EQ(t.port, 80);
  EXPECT_EQ(t.first, "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n");
  EXPECT_EQ(parse_proxy_head("POST http://10.0.0.1:8080 HTTP/1.0\r\n\r\n", t), "");
  EXPECT_EQ(t.port, 8080);
  EXPECT_EQ(t.first, "POST / HTTP/1.0\r\nConnection: close\r\n\r\n");
}

TEST(ProxyHead, WhatCannotBeCarriedIsRefusedWithAReason) {
  proxy_target t;
  EXPECT_NE(parse_proxy_head("GET https://a.test/ HTTP/1.1\r\n\r\n", t).find("CONNECT"),
            std::string::npos);
  EXPECT_NE(parse_proxy_head("GET /relative HTTP/1.1\r\n\r\n", t).find("absolute URL"),
            std::string::npos);
  EXPECT_NE(parse_proxy_head("CONNECT a.test HTTP/1.1\r\n\r\n", t), "");
  EXPECT_NE(parse_proxy_head("CONNECT a.test:0 HTTP/1.1\r\n\r\n", t), "");
  EXPECT_NE(parse_proxy_head("CONNECT a.test:99999 HTTP/1.1\r\n\r\n", t), "");
  EXPECT_NE(parse_proxy_head("GET http://a.test/ SPDY/3\r\n\r\n", t), "");
  EXPECT_NE(parse_proxy_head("garbage\r\n\r\n", t), "");
  EXPECT_NE(parse_proxy_head("no end of line", t), "");
}

namespace {

/// A path that records what the proxy sends on it.
class recording_path : public troupe::net::egress_path {
public:
  explicit recording_path(std::shared_ptr<std::string> sent) : sent_(std::move(sent)) {}
  void send(std::string bytes) override { *sent_ += bytes; }
  void acknowledge(std::size_t) override {}
  void close() override {}

private:
  std::shared_ptr<std::string> sent_;
};

/// A listening socket on 127.0.0.1 (the proxy's), and its port.
int listen_loopback(uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) < 0 || listen(fd, 8) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0)
    return -1;
  port = ntohs(a.sin_port);
  return fd;
}

} // namespace

// A destination that speaks first (an SMTP banner, say) may answer before
// the proxy has started pumping the client's socket: those bytes wait and
// follow the tunnel's answer, as does the end of the stream.
TEST(EgressProxy, BytesThatComeBeforeThePumpStartsFollowTheTunnelsAnswer) {
  troupe::net::io_runtime io{1};
  uint16_t port = 0;
  int listen_fd = listen_loopback(port);
  ASSERT_GE(listen_fd, 0);
  auto sent = std::make_shared<std::string>();
  troupe::net::egress_proxy proxy{
      io, listen_fd,
      [sent](const std::string&, uint16_t,
             troupe::net::egress_path::events ev) -> std::unique_ptr<troupe::net::egress_path> {
        // All at once, on the proxy's own thread: opened is handled later.
        ev.opened({});
        ev.data("220 banner\r\n");
        ev.closed({});
        return std::make_unique<recording_path>(sent);
      }};
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval limit{10, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string req = "CONNECT mail.example.com:25 HTTP/1.1\r\nHost: mail.example.com:25\r\n\r\n";
  ASSERT_EQ(write(c, req.data(), req.size()), ssize_t(req.size()));
  std::string got;
  char buf[256];
  for (ssize_t n; (n = read(c, buf, sizeof buf)) > 0;)
    got.append(buf, size_t(n));
  close(c);
  EXPECT_EQ(got, "HTTP/1.1 200 Connection established\r\n\r\n220 banner\r\n");
  EXPECT_EQ(*sent, ""); // a tunnel sends nothing on but the client's bytes
}
