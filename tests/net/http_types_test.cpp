// net/http_types: header lookup, path and query split.

#include "net/http_types.hpp"

#include <gtest/gtest.h>

namespace troupe::net {
namespace {

TEST(net_http_types, iequals_ignores_ascii_case_only) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("Content-Type", "Content-Typ"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_TRUE(iequals("", ""));
}

TEST(net_http_types, header_is_case_insensitive_and_first_wins) {
  http_request r;
  r.headers = {{"X-A", "1"}, {"x-a", "2"}, {"Host", "h"}};
  EXPECT_EQ(r.header("x-A"), "1");
  EXPECT_EQ(r.header("HOST"), "h");
  EXPECT_EQ(r.header("missing"), "");
}

TEST(net_http_types, path_and_query) {
  http_request r;
  r.target = "/2015-03-31/functions/f/invocations?Qualifier=1&x=";
  EXPECT_EQ(r.path(), "/2015-03-31/functions/f/invocations");
  EXPECT_EQ(r.query(), "Qualifier=1&x=");
  r.target = "/plain";
  EXPECT_EQ(r.path(), "/plain");
  EXPECT_EQ(r.query(), "");
  r.target = "/q?";
  EXPECT_EQ(r.path(), "/q");
  EXPECT_EQ(r.query(), "");
}

TEST(net_http_types, response_set_appends) {
  http_response r;
  r.set("A", "1").set("B", "2");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1].name, "B");
}

} // namespace
} // namespace troupe::net
