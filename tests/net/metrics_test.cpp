// The metrics registry and its Prometheus text rendering, checked by promtool.
#include "net/metrics.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace troupe::net::metrics;

namespace {

/// promtool's verdict on `text` (`promtool check metrics`): its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& text) {
  char in[] = "/tmp/troupe-metrics-XXXXXX";
  int fd = mkstemp(in);
  if (fd < 0)
    throw std::runtime_error("mkstemp failed");
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error("write failed");
  ::close(fd);
  std::string out_path = std::string{in} + ".out";
  auto cmd =
      "timeout -k 5 60 promtool check metrics < " + std::string{in} + " > " + out_path + " 2>&1";
  int status = std::system(cmd.c_str());
  std::ifstream f{out_path};
  std::string out{std::istreambuf_iterator<char>{f}, {}};
  std::remove(in);
  std::remove(out_path.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST(Metrics, CountersGaugesAndHistogramsRenderAsPrometheusReadsThem) {
  registry r;
  r.get_counter("t_requests_total", "Requests", {{"code", "200"}}).add(3);
  r.get_counter("t_requests_total", "Requests", {{"code", "500"}}).add();
  r.get_gauge("t_queue", "Waiting").set(7);
  auto& h = r.get_histogram("t_latency_seconds", "Latency", {{"fn", "a"}}, {0.01, 0.1, 1});
  for (double v : {0.005, 0.05, 0.05, 0.5, 5.0})
    h.observe(v);
  auto text = r.render();
  EXPECT_TRUE(contains(text, "# TYPE t_requests_total counter\n"));
  EXPECT_TRUE(contains(text, "t_requests_total{code=\"200\"} 3\n"));
  EXPECT_TRUE(contains(text, "t_requests_total{code=\"500\"} 1\n"));
  EXPECT_TRUE(contains(text, "# TYPE t_queue gauge\nt_queue 7\n"));
  // Buckets are cumulative and end in +Inf, which equals the count.
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{fn=\"a\",le=\"0.01\"} 1\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{fn=\"a\",le=\"0.1\"} 3\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{fn=\"a\",le=\"1\"} 4\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{fn=\"a\",le=\"+Inf\"} 5\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_count{fn=\"a\"} 5\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_sum{fn=\"a\"} 5.605\n"));
  auto [status, out] = promtool_check(text);
  EXPECT_EQ(status, 0) << out << "\n" << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  registry r;
  r.get_gauge("t_odd", "Odd \\ help\nline", {{"name", "a\"b\\c\nd"}}).set(1);
  auto text = r.render();
  EXPECT_TRUE(contains(text, R"(t_odd{name="a\"b\\c\nd"} 1)")) << text;
  EXPECT_TRUE(contains(text, "# HELP t_odd Odd \\\\ help\\nline\n")) << text;
  auto [status, out] = promtool_check(text);
  EXPECT_EQ(status, 0) << out << "\n" << text;
}

TEST(Metrics, PromtoolCatchesWhatTheRendererMustNotWrite) {
  // The check itself can fail: a counter without _total is refused by its linter.
  auto [status, out] = promtool_check("# HELP t_bad Bad\n# TYPE t_bad counter\nt_bad 1\n");
  EXPECT_NE(status, 0) << out;
}

TEST(Metrics, ASeriesIsFoundAgainByItsLabelsAndTheSameNameKeepsItsShape) {
  registry r;
  auto& a = r.get_counter("t_x_total", "X", {{"k", "1"}});
  EXPECT_EQ(&a, &r.get_counter("t_x_total", "X", {{"k", "1"}}));
  EXPECT_NE(&a, &r.get_counter("t_x_total", "X", {{"k", "2"}}));
  EXPECT_THROW(r.get_gauge("t_x_total", "X", {{"k", "1"}}), std::logic_error);
  EXPECT_THROW(r.get_counter("t_x_total", "X", {{"other", "1"}}), std::logic_error);
  a.add(-5); // a counter never goes down
  a.raise_to(4);
  a.raise_to(2);
  EXPECT_EQ(a.value(), 4);
}

TEST(Metrics, SharesOfAGaugeAddUpAndLeaveWithTheirHolders) {
  registry r;
  auto& g = r.get_gauge("t_depth", "Depth");
  {
    gauge_share one{g}, two{g};
    one.set(3);
    two.set(4);
    EXPECT_EQ(g.value(), 7);
    one.set(1);
    EXPECT_EQ(g.value(), 5);
  }
  EXPECT_EQ(g.value(), 0);
}

TEST(Metrics, RefreshersRunBeforeEveryRendering) {
  registry r;
  int calls = 0;
  r.on_render([&](registry& reg) { reg.get_gauge("t_calls", "Calls").set(++calls); });
  EXPECT_TRUE(contains(r.render(), "t_calls 1\n"));
  EXPECT_TRUE(contains(r.render(), "t_calls 2\n"));
}

TEST(Metrics, ThreadsCountWithoutLosingUpdates) {
  registry r;
  auto& c = r.get_counter("t_n_total", "N");
  auto& h = r.get_histogram("t_h_seconds", "H");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.add();
        h.observe(0.001);
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(c.value(), 40000);
  uint64_t n = 0;
  for (auto x : h.counts())
    n += x;
  EXPECT_EQ(n, 40000u);
  EXPECT_NEAR(h.sum(), 40.0, 1e-6);
}

TEST(Metrics, ProcessFiguresAreThere) {
  registry r;
  add_process_metrics(r);
  auto text = r.render();
  for (auto name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                    "process_open_fds ", "process_start_time_seconds "})
    EXPECT_TRUE(contains(text, name)) << name;
  EXPECT_FALSE(contains(text, "process_resident_memory_bytes 0\n"));
  auto [status, out] = promtool_check(text);
  EXPECT_EQ(status, 0) << out << "\n" << text;
}
