#include "bench_support.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

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
                   const std::string& handler, const std::string& zip) {
  auto r = node.client().request("POST", "/2015-03-31/functions",
                                 test::create_body(name, runtime, handler, zip));
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

/// Waits (bounded) until the node has at least `n` sandboxes.
void await_sandboxes(const test::node_process& node, size_t n, seconds limit) {
  auto until = steady_clock::now() + limit;
  while (children_of(node.pid()).size() < n && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(20));
  if (children_of(node.pid()).size() < n)
    throw std::runtime_error("the pool did not fill to " + std::to_string(n));
}

burst_result burst(uint16_t port, const std::vector<std::string>& targets,
                   const std::string& body) {
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

} // namespace troupe::bench
