#include "net/egress_proxy.hpp"

#include <gtest/gtest.h>

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
