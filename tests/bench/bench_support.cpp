#include "bench_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace troupe::bench {

using namespace std::chrono;

void emit(const std::string& json) {
  std::cout << json << std::endl;
}

std::string num(double x) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

std::string deploy(test::node_process& node, const std::string& name, const std::string& runtime,
                   const std::string& handler, const std::string& zip, int timeout_s) {
  auto r = node.client().request("POST", "/2015-03-31/functions",
                                 test::create_body(name, runtime, handler, zip, timeout_s));
  if (r.status != 201)
    throw std::runtime_error("deploy " + name + ": " + r.body);
  return "/2015-03-31/functions/" + name + "/invocations";
}

/// The node's children: the sandboxes' inits.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec; // a process may end while we look
  for (auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream in{test::read_file(task.path() / "children")};
    for (pid_t child; in >> child;)
      out.push_back(child);
  }
  return out;
}

latency percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, size_t(q * us.size()))]; };
  return {at(0.50), at(0.99)};
}

latency one_connection(uint16_t port, const std::string& target, const std::string& body, int n,
                       int warmup, int* failed) {
  net::http_client c{"127.0.0.1", port};
  std::vector<double> us;
  for (int i = 0; i < warmup + n; ++i) {
    auto t0 = steady_clock::now();
    auto r = c.request("POST", target, body);
    if (i >= warmup)
      us.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (r.status == 200)
      continue;
    if (!failed)
      throw std::runtime_error("status " + std::to_string(r.status) + ": " + r.body);
    ++*failed;
  }
  return percentiles(std::move(us));
}

double process_cpu_ms(pid_t pid) {
  auto stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')'); // the name may hold spaces
  std::istringstream in{close == std::string::npos ? "" : stat.substr(close + 2)};
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) // fields 14 and 15: utime, stime
    if (i == 14)
      utime = std::stod(field);
    else if (i == 15)
      stime = std::stod(field);
  return (utime + stime) * 1000.0 / double(sysconf(_SC_CLK_TCK));
}

double machine_busy_ms() {
  std::istringstream in{test::read_file("/proc/stat")};
  std::string cpu;
  in >> cpu; // "cpu": the sum over all cores
  double total = 0, idle = 0, x = 0;
  for (int i = 0; i < 8 && in >> x; ++i) {
    total += x;
    if (i == 3 || i == 4) // idle, iowait
      idle += x;
  }
  return (total - idle) * 1000.0 / double(sysconf(_SC_CLK_TCK));
}

double await_quiet_machine(seconds limit) {
  auto t0 = steady_clock::now();
  auto cores = double(std::max(1u, std::thread::hardware_concurrency()));
  while (steady_clock::now() - t0 < limit) {
    auto busy0 = machine_busy_ms();
    std::this_thread::sleep_for(milliseconds(500));
    if (machine_busy_ms() - busy0 < 0.1 * 500 * cores)
      break;
  }
  return duration<double>(steady_clock::now() - t0).count();
}

/// Waits (bounded) until the node has at least `n` sandboxes.
void await_sandboxes(const test::node_process& node, size_t n, seconds limit) {
  auto until = steady_clock::now() + limit;
  while (children_of(node.pid()).size() < n && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(20));
  if (children_of(node.pid()).size() < n)
    throw std::runtime_error("the pool did not fill to " + std::to_string(n));
}

burst_result burst(uint16_t port, const std::vector<std::string>& targets, const std::string& body,
                   const std::function<void()>& at_release) {
  std::mutex mu;
  std::condition_variable go;
  bool released = false;
  std::atomic<int> failed{0};
  std::vector<std::thread> ts;
  for (const auto& target : targets)
    ts.emplace_back([&] {
      net::http_client cl{"127.0.0.1", port, seconds(120)};
      cl.request("GET", "/healthz"); // connected before the burst
      {
        std::unique_lock<std::mutex> lock(mu);
        go.wait(lock, [&] { return released; });
      }
      if (cl.request("POST", target, body).status != 200)
        ++failed;
    });
  std::this_thread::sleep_for(seconds(1)); // every client connected and waiting
  if (at_release)
    at_release();
  burst_result out;
  out.released = steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  go.notify_all();
  for (auto& t : ts)
    t.join();
  out.seconds = duration<double>(steady_clock::now() - out.released).count();
  out.failed = failed.load();
  return out;
}

std::vector<load_sample> open_loop(uint16_t port, const std::vector<std::string>& targets,
                                   const std::string& body, const std::vector<load_phase>& phases,
                                   int workers) {
  std::vector<double> due; // seconds from the start, every request's
  double start = 0;
  for (const auto& p : phases) {
    auto n = static_cast<size_t>(p.rate_per_s * p.seconds);
    for (size_t i = 0; i < n; ++i)
      due.push_back(start + double(i) / p.rate_per_s);
    start += p.seconds;
  }
  std::vector<load_sample> out(due.size());
  std::atomic<size_t> next{0};
  auto t0 = steady_clock::now() + milliseconds(200); // every worker connected by then
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w)
    ts.emplace_back([&] {
      auto c = std::make_unique<net::http_client>("127.0.0.1", port, seconds(30));
      for (size_t i; (i = next.fetch_add(1)) < due.size();) {
        auto at = t0 + duration_cast<steady_clock::duration>(duration<double>(due[i]));
        std::this_thread::sleep_until(at);
        int status = 0;
        try {
          status = c->request("POST", targets[i % targets.size()], body).status;
        } catch (const std::exception&) {
          c = std::make_unique<net::http_client>("127.0.0.1", port, seconds(30)); // afresh
        }
        out[i] = {due[i], status, duration<double, std::micro>(steady_clock::now() - at).count()};
      }
    });
  for (auto& t : ts)
    t.join();
  return out;
}

long rss_kb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

} // namespace troupe::bench
