// troupe-bench: the benchmarks of tests/bench, printed as JSON lines.
//   warm invoke of the C++ echo through the ingress vs a minimal Beast server
//   (p50/p99 at 1 connection, throughput at 32 connections, and their ratios),
//   cold start p50/p99 of the C++ and Python examples, and the CAF scheduler
//   policies compared on the warm path.
#include "../integration/node_process.hpp"
#include "baseline_server.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace troupe;
using namespace std::chrono;

namespace {

const std::string event = R"({"hello":"world","n":12345})";

struct latency {
  double p50_us = 0, p99_us = 0;
};

latency percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, size_t(q * us.size()))]; };
  return {at(0.50), at(0.99)};
}

/// Sequential round trips on one keep-alive connection.
latency one_connection(uint16_t port, const std::string& target, int n) {
  net::http_client c{"127.0.0.1", port};
  for (int i = 0; i < 50; ++i) // warm-up
    c.request("POST", target, event);
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = steady_clock::now();
    auto r = c.request("POST", target, event);
    us.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (r.status != 200)
      throw std::runtime_error("status " + std::to_string(r.status) + ": " + r.body);
  }
  return percentiles(std::move(us));
}

/// Requests per second over `conns` keep-alive connections for `span`.
double throughput(uint16_t port, const std::string& target, int conns, seconds span) {
  std::atomic<long> done{0}, failed{0};
  auto until = steady_clock::now() + span;
  std::vector<std::thread> ts;
  for (int i = 0; i < conns; ++i)
    ts.emplace_back([&] {
      net::http_client c{"127.0.0.1", port};
      while (steady_clock::now() < until)
        (c.request("POST", target, event).status == 200 ? done : failed)++;
    });
  for (auto& t : ts)
    t.join();
  if (failed > 0)
    std::cerr << "bench: " << failed << " requests failed\n";
  return double(done) / duration<double>(span).count();
}

void emit(const std::string& json) {
  std::cout << json << std::endl;
}

std::string num(double x) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

std::string deploy(test::node_process& node, const std::string& name, const std::string& runtime,
                   const std::string& handler, const std::string& zip) {
  auto r = node.client().request("POST", "/2015-03-31/functions",
                                 test::create_body(name, runtime, handler, zip));
  if (r.status != 201)
    throw std::runtime_error("deploy " + name + ": " + r.body);
  return "/2015-03-31/functions/" + name + "/invocations";
}

/// CPU time (user + system) a process has used, in milliseconds.
double cpu_ms(pid_t pid) {
  auto stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in{stat.substr(stat.rfind(')') + 2)};
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i)
    if (i >= 14)
      ticks += std::stod(field);
  return ticks * 1000.0 / double(sysconf(_SC_CLK_TCK));
}

/// The node's CPU share while idle for `span`, right after load.
double idle_cpu_percent(pid_t pid, seconds span) {
  auto before = cpu_ms(pid);
  std::this_thread::sleep_for(span);
  return (cpu_ms(pid) - before) / duration<double, std::milli>(span).count() * 100.0;
}

void warm(const std::string& label, std::vector<std::string> args, int n, seconds span,
          bool with_baseline) {
  test::temp_dir data;
  test::node_process node{data.path(), std::move(args)};
  const std::string& policy = label;
  auto target = deploy(node, "cpp-echo", "provided", "bootstrap",
                       test::read_file(test::example_zip("cpp-echo")));
  auto t1 = one_connection(node.port(), target, n);
  auto rps = throughput(node.port(), target, 32, span);
  auto idle = idle_cpu_percent(node.pid(), seconds(3));
  std::string line = R"({"bench":"warm_invoke","function":"cpp-echo","scheduler":")" + policy +
                     R"(","p50_us":)" + num(t1.p50_us) + R"(,"p99_us":)" + num(t1.p99_us) +
                     R"(,"rps_32":)" + num(rps) + R"(,"idle_cpu_pct_after_load":)" + num(idle);
  if (with_baseline) {
    bench::baseline_server base{event};
    auto b1 = one_connection(base.port(), "/", n);
    auto brps = throughput(base.port(), "/", 32, span);
    emit(R"({"bench":"baseline_beast","p50_us":)" + num(b1.p50_us) + R"(,"p99_us":)" +
         num(b1.p99_us) + R"(,"rps_32":)" + num(brps) + "}");
    line += R"(,"p50_ratio":)" + num(t1.p50_us / b1.p50_us) + R"(,"rps_ratio":)" +
            std::to_string(rps / brps);
  }
  emit(line + "}");
}

void cold(const std::string& label, const std::string& runtime, const std::string& handler,
          const std::string& zip, int n) {
  test::temp_dir data;
  test::node_process node{data.path()};
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto target = deploy(node, label + "-" + std::to_string(i), runtime, handler, zip);
    std::this_thread::sleep_for(milliseconds(50)); // let the pool refill, as between bursts
    auto t0 = steady_clock::now();
    auto r = node.client().request("POST", target, event);
    us.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (r.status != 200)
      throw std::runtime_error("cold " + label + ": " + r.body);
  }
  auto l = percentiles(std::move(us));
  emit(R"({"bench":"cold_start","function":")" + label + R"(","n":)" + std::to_string(n) +
       R"(,"p50_us":)" + num(l.p50_us) + R"(,"p99_us":)" + num(l.p99_us) + "}");
}

/// The node's children: the sandboxes' first processes (the runtimes).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::istringstream in{test::read_file(task.path() / "children")};
    for (pid_t child; in >> child;)
      out.push_back(child);
  }
  return out;
}

/// Proportional set size of a process, in kB (0 if it is gone).
double pss_kb(pid_t pid) {
  auto text = test::read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  auto at = text.find("\nPss:");
  return at == std::string::npos ? 0.0 : std::stod(text.substr(at + 5));
}

/// `n` cold starts of distinct functions at once (`conns` at a time), then
/// the memory the idle instances hold.
void launch_and_density(int n, int conns) {
  test::temp_dir data;
  test::node_process node{data.path(),
                          {"--host.memory-mb=" + std::to_string(128 * (n + 8)),
                           "--host.pool-max=" + std::to_string(n), "--host.pool-refill=10000"}};
  auto zip = test::read_file(test::example_zip("cpp-echo"));
  std::vector<std::string> targets;
  for (int i = 0; i < n; ++i)
    targets.push_back(deploy(node, "burst-" + std::to_string(i), "provided", "bootstrap", zip));
  auto node_pss_before = pss_kb(node.pid());
  std::atomic<int> next{0}, failed{0};
  auto t0 = steady_clock::now();
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c)
    ts.emplace_back([&] {
      net::http_client cl{"127.0.0.1", node.port(), seconds(120)};
      for (int i = next++; i < n; i = next++)
        if (cl.request("POST", targets[i], event).status != 200)
          ++failed;
    });
  for (auto& t : ts)
    t.join();
  auto secs = duration<double>(steady_clock::now() - t0).count();
  emit(R"({"bench":"launch_rate","cold_starts":)" + std::to_string(n) + R"(,"concurrency":)" +
       std::to_string(conns) + R"(,"failed":)" + std::to_string(failed.load()) + R"(,"seconds":)" +
       num(secs) + R"(,"per_second":)" + num(n / secs) + "}");
  std::this_thread::sleep_for(seconds(1));
  double sandbox_pss = 0;
  auto kids = children_of(node.pid());
  for (auto pid : kids)
    sandbox_pss += pss_kb(pid);
  auto node_growth = pss_kb(node.pid()) - node_pss_before;
  emit(R"({"bench":"density","sandbox_processes":)" + std::to_string(kids.size()) +
       R"(,"sandbox_pss_kb_per_process":)" + num(sandbox_pss / std::max<size_t>(1, kids.size())) +
       R"(,"node_pss_growth_kb_per_instance":)" + num(node_growth / n) + "}");
}

} // namespace

/// troupe-bench [N] [warm|cold|launch]: N requests per latency run; one section or all.
int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::string only = argc > 2 ? argv[2] : "";
  auto run = [&](const char* section) { return only.empty() || only == section; };
  try {
    if (run("warm")) {
      // The CAF scheduler settings compared on the same path (shared/CAF-0.17.md section 3).
      warm("sharing-default", {}, n, seconds(5), true);
      warm("stealing-moderate0",
           {"--scheduler.policy=stealing", "--work-stealing.moderate-poll-attempts=0"}, n,
           seconds(5), false);
      warm("stealing-moderate0-relaxed1ms",
           {"--scheduler.policy=stealing", "--work-stealing.moderate-poll-attempts=0",
            "--work-stealing.relaxed-sleep-duration=1ms"},
           n, seconds(5), false);
      warm("stealing", {"--scheduler.policy=stealing"}, n, seconds(5), false);
    }
    if (run("cold")) {
      cold("cpp-echo", "provided", "bootstrap", test::read_file(test::example_zip("cpp-echo")), 40);
      cold("python-echo", "python3", "handler.handler",
           test::read_file(test::example_zip("python-echo")), 40);
    }
    if (run("launch"))
      launch_and_density(500, 32);
  } catch (const std::exception& e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
}
