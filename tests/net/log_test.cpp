// Structured logs: JSON lines (or text) with levels, batched without losing order.
#include "net/log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace log = troupe::net::log;

namespace {

/// The logger writing into a pipe for the test's length.
class LogTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(pipe2(fds_, O_NONBLOCK), 0);
    fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);
  }
  void TearDown() override {
    log::configure({}); // back to standard error
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void use(log::level min, bool json) {
    log::settings s;
    s.min = min;
    s.json = json;
    s.program = "prog";
    s.node = "n1";
    s.fd = fds_[1];
    log::configure(s);
  }
  /// What was written so far (after a flush).
  std::string written() {
    log::flush();
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }
  int fds_[2] = {-1, -1};
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  for (auto nl = s.find('\n'); nl != std::string::npos; at = nl + 1, nl = s.find('\n', at))
    out.push_back(s.substr(at, nl - at));
  return out;
}

} // namespace

TEST_F(LogTest, ARecordIsOneJsonLineWithItsLevelEventAndFields) {
  use(log::level::info, true);
  log::info("host_joined", "host \"h1\" joined")
      .field("host", "h1")
      .field("slots", 64)
      .field("ratio", 0.5)
      .field("draining", false);
  auto out = lines(written());
  ASSERT_EQ(out.size(), 1u);
  const auto& l = out[0];
  EXPECT_EQ(l.rfind("{\"time\":\"", 0), 0u) << l;
  EXPECT_NE(l.find("Z\",\"level\":\"info\",\"node\":\"n1\",\"event\":\"host_joined\","
                   "\"msg\":\"host \\\"h1\\\" joined\",\"host\":\"h1\",\"slots\":64,"
                   "\"ratio\":0.500,\"draining\":false}"),
            std::string::npos)
      << l;
}

TEST_F(LogTest, RecordsBelowTheLevelAreNotWritten) {
  use(log::level::warn, true);
  log::debug("a", "debug");
  log::info("b", "info");
  log::warn("c", "warn");
  log::error("d", "error");
  auto out = lines(written());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].find("\"level\":\"warn\""), std::string::npos);
  EXPECT_NE(out[1].find("\"level\":\"error\""), std::string::npos);
  EXPECT_FALSE(log::enabled(log::level::info));
  EXPECT_TRUE(log::enabled(log::level::error));
}

TEST_F(LogTest, TextFormIsForPeople) {
  use(log::level::debug, false);
  log::info("x", "node started").field("port", 80).field("path", "/a b");
  log::warn("y", "disk low");
  auto out = lines(written());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "prog: node started port=80 path=\"/a b\"");
  EXPECT_EQ(out[1], "prog: warn: disk low");
}

TEST_F(LogTest, BatchedRecordsComeOutInOrderBeforeALaterWarning) {
  use(log::level::info, true);
  for (int i = 0; i < 100; ++i)
    log::info("n", "record").field("i", i);
  log::warn("w", "last"); // written at once, after the batch
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fds_[0], buf, sizeof buf)) > 0) // no flush: the warning drained it
    out.append(buf, static_cast<size_t>(n));
  auto ls = lines(out);
  ASSERT_EQ(ls.size(), 101u);
  for (int i = 0; i < 100; ++i)
    EXPECT_NE(ls[size_t(i)].find("\"i\":" + std::to_string(i) + "}"), std::string::npos) << i;
  EXPECT_NE(ls[100].find("\"msg\":\"last\""), std::string::npos);
}

TEST_F(LogTest, TheWriterThreadWritesBatchesWithoutAFlush) {
  use(log::level::info, true);
  log::info("n", "soon");
  std::string out;
  for (int i = 0; i < 200 && out.empty(); ++i) { // bounded: 2 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    char buf[4096];
    auto n = ::read(fds_[0], buf, sizeof buf);
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(out.find("\"msg\":\"soon\""), std::string::npos);
}

TEST_F(LogTest, ManyThreadsLeaveWholeLines) {
  use(log::level::info, true);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t] {
      for (int i = 0; i < 500; ++i)
        log::info("n", std::string(100, char('a' + t))).field("i", i);
    });
  for (auto& t : ts)
    t.join();
  auto ls = lines(written());
  ASSERT_EQ(ls.size(), 2000u);
  for (const auto& l : ls) {
    ASSERT_EQ(l.front(), '{');
    ASSERT_EQ(l.back(), '}');
  }
}

TEST(LogLevels, ParseTheFourNamesOnly) {
  EXPECT_EQ(log::parse_level("debug"), log::level::debug);
  EXPECT_EQ(log::parse_level("error"), log::level::error);
  EXPECT_FALSE(log::parse_level("verbose"));
  EXPECT_FALSE(log::parse_level(""));
}
