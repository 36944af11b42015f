#include "bench_support.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sstream>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>
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

namespace {

/// One connection of a burst, driven without a thread of its own.
struct burst_conn {
  int fd = -1;
  std::string out; ///< the request still to send
  size_t sent = 0;
  std::string in; ///< the answer so far
  int status = 0; ///< set once the answer is whole
};

/// The status of a whole HTTP/1.1 answer in `in` (sized by Content-Length),
/// or 0 while it is incomplete.
int whole_answer(const std::string& in) {
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos || in.size() < 12)
    return 0;
  size_t length = 0;
  std::string head = in.substr(0, head_end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
    length = std::stoul(head.substr(at + 17));
  if (in.size() < head_end + 4 + length)
    return 0;
  return std::atoi(in.c_str() + 9); // "HTTP/1.1 200"
}

/// Sends every connection's request at once and waits (epoll, 120 s at most)
/// until each has its whole answer; a connection that fails gets status -1.
void run_round(std::vector<burst_conn>& conns) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    throw std::runtime_error("epoll_create1 failed");
  size_t left = conns.size();
  auto fail = [&](burst_conn& c) {
    c.status = -1;
    --left;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
  };
  for (size_t i = 0; i < conns.size(); ++i) {
    auto& c = conns[i];
    c.sent = 0;
    c.in.clear();
    c.status = 0;
    epoll_event ev{EPOLLIN | EPOLLOUT, {}};
    ev.data.u64 = i;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) < 0)
      fail(c);
  }
  auto until = steady_clock::now() + seconds(120);
  std::vector<epoll_event> events(256);
  char buf[16384];
  while (left > 0 && steady_clock::now() < until) {
    int n = epoll_wait(ep, events.data(), int(events.size()), 1000);
    for (int e = 0; e < n; ++e) {
      auto& c = conns[events[e].data.u64];
      if (c.status != 0)
        continue;
      if (c.sent < c.out.size() && (events[e].events & EPOLLOUT)) {
        auto w = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          fail(c);
          continue;
        }
        c.sent += w > 0 ? size_t(w) : 0;
        if (c.sent == c.out.size()) {
          epoll_event ev{EPOLLIN, {}};
          ev.data.u64 = events[e].data.u64;
          epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        bool closed = false;
        for (;;) {
          auto r = ::recv(c.fd, buf, sizeof buf, 0);
          if (r > 0) {
            c.in.append(buf, size_t(r));
            continue;
          }
          closed = r == 0 || errno != EAGAIN;
          break;
        }
        if ((c.status = whole_answer(c.in)) != 0) {
          --left;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        } else if (closed) {
          fail(c);
        }
      }
    }
  }
  ::close(ep);
}

} // namespace

burst_result burst(uint16_t port, const std::vector<std::string>& targets, const std::string& body,
                   const std::function<void()>& at_release) {
  // One thread drives every connection: the load generator shares the two
  // cores with the node, and a blocking thread per connection cost 6% of the
  // machine during the burst (wake-ups, exits, stack unmaps).
  std::vector<burst_conn> conns(targets.size());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (auto& c : conns) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      throw std::runtime_error("burst: cannot connect to the node");
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    c.out = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  }
  run_round(conns); // every connection accepted and served once before the burst
  for (size_t i = 0; i < conns.size(); ++i)
    conns[i].out = "POST " + targets[i] +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
  if (at_release)
    at_release();
  burst_result out;
  out.released = steady_clock::now();
  run_round(conns);
  out.seconds = duration<double>(steady_clock::now() - out.released).count();
  for (auto& c : conns) {
    if (c.status != 200)
      ++out.failed;
    ::close(c.fd);
  }
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
