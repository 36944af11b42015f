// The resilience benchmarks of troupe-bench (issue 5): overload at three
// times capacity, a spike and the way back, and a host that fails every start.
// Capacity is set by concurrency, not by the CPU: a function that sleeps 50 ms
// on at most 8 instances serves 160 requests a second, so the figures measure
// admission and back-pressure rather than two busy cores.
#include "baseline_server.hpp"
#include "bench_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

namespace troupe::bench {

namespace {

using namespace std::chrono;

constexpr int instances = 8;
const std::string work = R"({"sleep":0.05})";

std::string sleepy_zip() {
  return test::make_zip({{"sleepy.py", "import time\n"
                                       "def handler(e, c):\n"
                                       "  time.sleep(e.get('sleep', 0))\n"
                                       "  return e\n"}});
}

/// What the samples due in [from_s, to_s) came to.
struct figures {
  int sent = 0, ok = 0, throttled = 0, other = 0;
  double ok_per_s = 0;
  latency served, rejected;
};

figures figures_of(const std::vector<load_sample>& all, double from_s, double to_s) {
  figures f;
  std::vector<double> ok_us, rejected_us;
  for (const auto& s : all) {
    if (s.sent_s < from_s || s.sent_s >= to_s)
      continue;
    ++f.sent;
    if (s.status == 200) {
      ++f.ok;
      ok_us.push_back(s.us);
    } else if (s.status == 429 || s.status == 503) {
      ++f.throttled;
      rejected_us.push_back(s.us);
    } else {
      ++f.other;
    }
  }
  f.ok_per_s = f.ok / (to_s - from_s);
  if (!ok_us.empty())
    f.served = percentiles(std::move(ok_us));
  if (!rejected_us.empty())
    f.rejected = percentiles(std::move(rejected_us));
  return f;
}

/// An all-in-one node with sleepy deployed and its instances warm.
struct sleepy_node {
  test::temp_dir data;
  std::unique_ptr<test::node_process> node;
  std::string target;

  sleepy_node() {
    node = std::make_unique<test::node_process>(
        data.path(),
        std::vector<std::string>{"--router.max-instances=" + std::to_string(instances),
                                 "--router.max-queue=16", "--host.warm-runtimes=python3",
                                 "--ingress.max-in-flight=4000"});
    target = deploy(*node, "sleepy", "python3.11", "sleepy.handler", sleepy_zip());
    open_loop(node->port(), {target}, work, {{double(instances) * 10, 1.0}}, instances * 2);
  }

  /// Requests served a second by `clients` closed-loop clients over `span`.
  double capacity(int clients, seconds span) {
    std::atomic<int> ok{0};
    auto until = steady_clock::now() + span;
    std::vector<std::thread> ts;
    for (int i = 0; i < clients; ++i)
      ts.emplace_back([&] {
        net::http_client c{"127.0.0.1", node->port()};
        while (steady_clock::now() < until)
          if (c.request("POST", target, work).status == 200)
            ++ok;
      });
    for (auto& t : ts)
      t.join();
    return ok / duration<double>(span).count();
  }
};

/// The node's resident memory, sampled every 250 ms while it runs.
class rss_sampler {
public:
  explicit rss_sampler(pid_t pid)
      : start_(rss_kb(pid)), thread_([this, pid] {
          while (!stop_) {
            max_ = std::max(max_.load(), rss_kb(pid));
            std::this_thread::sleep_for(milliseconds(250));
          }
        }) {}
  ~rss_sampler() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  long start() const { return start_; }
  long max() const { return max_; }

private:
  long start_;
  std::atomic<long> max_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string json(const latency& l) {
  return R"({"p50_ms":)" + num(l.p50_us / 1000) + R"(,"p99_ms":)" + num(l.p99_us / 1000) + "}";
}

/// Three times capacity for `span_s`: how much is still served, how fast the
/// rest is refused, against a bare Beast server answering at once (the floor
/// of a refusal's round trip at that rate on this machine).
void overload(double span_s) {
  sleepy_node n;
  auto peak = n.capacity(2 * instances, seconds(5));
  auto offered = 3 * peak;
  rss_sampler rss{n.node->pid()};
  auto samples = open_loop(n.node->port(), {n.target}, work, {{offered, span_s}}, 96);
  rss.stop();
  auto f = figures_of(samples, 2.0, span_s); // past the first queue's filling
  std::string slow; // refusals over 10 ms, per second of the run: when the tail happens
  for (int sec = 0; sec < int(span_s); ++sec) {
    int n = 0;
    for (const auto& x : samples)
      n += (x.status == 429 || x.status == 503) && x.us > 10'000 && int(x.sent_s) == sec;
    slow += (sec ? "," : "") + std::to_string(n);
  }
  latency floor;
  {
    baseline_server base{"{}"};
    auto b = open_loop(base.port(), {"/"}, work, {{offered, 5.0}}, 96);
    floor = figures_of(b, 1.0, 5.0).served;
  }
  emit(R"({"bench":"overload","instances":)" + std::to_string(instances) + R"(,"peak_per_s":)" +
       num(peak) + R"(,"offered_per_s":)" + num(offered) + R"(,"seconds":)" + num(span_s) +
       R"(,"goodput_per_s":)" + num(f.ok_per_s) + R"(,"goodput_ratio":)" +
       num(100 * f.ok_per_s / peak) + R"(,"served":)" + std::to_string(f.ok) + R"(,"refused":)" +
       std::to_string(f.throttled) + R"(,"other":)" + std::to_string(f.other) +
       R"(,"served_latency":)" + json(f.served) + R"(,"refusal_latency":)" + json(f.rejected) +
       R"(,"baseline_beast_latency":)" + json(floor) + R"(,"refusal_p99_ratio":)" +
       num(f.rejected.p99_us / floor.p99_us) + R"(,"refusals_over_10ms_each_second":[)" + slow +
       R"(],"rss_kb":{"start":)" + std::to_string(rss.start()) + R"(,"max":)" +
       std::to_string(rss.max()) + "}}");
}

/// 0.7 of capacity, a 2x spike for 10 s, then 0.7 again: how soon the served
/// requests' median (per half second) is back inside what it was before the
/// spike (the highest half-second median of the baseline, and 10% more), and
/// stays there.
void spike() {
  sleepy_node n;
  auto peak = n.capacity(2 * instances, seconds(5));
  auto samples = open_loop(n.node->port(), {n.target}, work,
                           {{0.7 * peak, 10}, {2 * peak, 10}, {0.7 * peak, 20}}, 96);
  auto before = figures_of(samples, 2, 10).served;
  auto p50_at = [&](double t) { return figures_of(samples, t, t + 0.5).served.p50_us; };
  double envelope = 0;
  for (double t = 2; t < 10; t += 0.5)
    envelope = std::max(envelope, p50_at(t));
  envelope *= 1.1;
  std::string series;
  double back_s = -1;
  for (double t = 20; t < 40; t += 0.5) {
    auto p50 = p50_at(t);
    series += (series.empty() ? "" : ",") + num(p50 / 1000);
    if (p50 > envelope)
      back_s = -1;
    else if (back_s < 0)
      back_s = t - 20;
  }
  auto spiked = figures_of(samples, 10, 20);
  auto after = figures_of(samples, 30, 40);
  emit(R"({"bench":"spike","peak_per_s":)" + num(peak) + R"(,"before":)" + json(before) +
       R"(,"baseline_envelope_ms":)" + num(envelope / 1000) + R"(,"spike":{"served_per_s":)" +
       num(spiked.ok_per_s) + R"(,"refused":)" + std::to_string(spiked.throttled) +
       R"(,"served_latency":)" + json(spiked.served) + R"(},"after":)" + json(after.served) +
       R"(,"back_to_baseline_s":)" + num(back_s) + R"(,"p50_ms_each_half_second_after":[)" +
       series + R"(],"other":)" + std::to_string(figures_of(samples, 0, 40).other) + "}");
}

/// The sum of every "Key": number in `body`.
long long sum_of(const std::string& body, const std::string& key) {
  long long sum = 0;
  for (auto at = body.find("\"" + key + "\":"); at != std::string::npos;
       at = body.find("\"" + key + "\":", at + 1))
    sum += std::stoll(body.substr(at + key.size() + 3));
  return sum;
}

/// Three hosts, one of which fails every start (one process per sandbox: the
/// runtime cannot be forked), under steady load spread over 24 functions, so
/// that each one's first launches land on every host: the attempts made per
/// request (launches included), and how soon after the load began the
/// scheduler's breaker for the failing host was open.
void failing_host() {
  test::temp_dir dir;
  test::node_process ctl{dir.path() / "ctl",
                         {"--cluster.plaintext", "--node.roles=controller,ingress",
                          "--cluster.listen=127.0.0.1:0",
                          "--router.max-instances=" + std::to_string(instances)}};
  std::vector<std::unique_ptr<test::node_process>> hosts;
  for (std::string id : {"host-a", "host-b", "host-c"}) {
    std::vector<std::string> h{"--cluster.plaintext",
                               "--node.roles=host",
                               "--host.id=" + id,
                               "--host.warm-runtimes=python3",
                               "--cluster.listen=127.0.0.1:0",
                               "--cluster.controller=127.0.0.1:" +
                                   std::to_string(ctl.cluster_port())};
    if (id == "host-c")
      h.push_back("--host.pids-max=1");
    hosts.push_back(std::make_unique<test::node_process>(dir.path() / id, h));
  }
  for (auto until = steady_clock::now() + seconds(20);
       sum_of(ctl.client().request("GET", "/troupe/hosts").body, "Slots") < 3 * 64;) {
    if (steady_clock::now() > until)
      throw std::runtime_error("the hosts did not join");
    std::this_thread::sleep_for(milliseconds(25));
  }
  std::vector<std::string> targets;
  for (int i = 0; i < 24; ++i)
    targets.push_back(
        deploy(ctl, "sleepy-" + std::to_string(i), "python3.11", "sleepy.handler", sleepy_zip()));
  std::atomic<bool> done{false};
  std::atomic<long long> open_ms{-1};
  auto t0 = steady_clock::now();
  std::thread watch([&] {
    net::http_client c{"127.0.0.1", ctl.port()};
    while (!done && open_ms < 0) {
      auto body = c.request("GET", "/troupe/hosts").body;
      auto at = body.find(R"("Id":"host-c")");
      if (at != std::string::npos && body.find(R"("Breaker":"open")", at) < body.find('}', at))
        open_ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  auto samples = open_loop(ctl.port(), targets, work, {{100, 10}}, 100);
  done = true;
  watch.join();
  auto f = figures_of(samples, 0, 10);
  auto routers = ctl.client().request("GET", "/troupe/routers").body;
  auto requests = sum_of(routers, "Requests"), attempts = sum_of(routers, "Attempts");
  emit(R"({"bench":"failing_host","hosts":3,"failing":"host-c: every start fails","functions":24,)"
       R"("offered":)" +
       std::to_string(f.sent) + R"(,"served":)" + std::to_string(f.ok) + R"(,"refused":)" +
       std::to_string(f.throttled) + R"(,"other":)" + std::to_string(f.other) + R"(,"attempts":)" +
       std::to_string(attempts) + R"(,"attempts_per_request":)" +
       std::to_string(double(attempts) / double(std::max(1LL, requests))) +
       R"(,"launch_failures":)" + std::to_string(sum_of(routers, "LaunchFailures")) +
       R"(,"retries":)" + std::to_string(sum_of(routers, "Retries")) +
       R"(,"breaker_open_after_ms":)" + std::to_string(open_ms.load()) + R"(,"served_latency":)" +
       json(f.served) + R"(,"hosts_now":)" + ctl.client().request("GET", "/troupe/hosts").body +
       "}");
}

} // namespace

void resilience_benches(double overload_s) {
  failing_host();
  overload(overload_s);
  spike();
}

} // namespace troupe::bench
