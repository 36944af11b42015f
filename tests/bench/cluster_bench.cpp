// The cluster benchmarks of troupe-bench: a controller+ingress node and host
// nodes joined over mutual TLS on loopback, and the scheduler on its own.
#include "actors/protocol/type_ids.hpp"
#include "actors/scheduler.hpp"
#include "bench_support.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <map>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace troupe::bench {

namespace {

using namespace std::chrono;

const std::string warm_event = R"({"hello":"world"})";

/// A controller node with TLS and the hosts that join it.
class local_cluster {
public:
  local_cluster() {
    auto cmd = std::string(TROUPE_SOURCE_DIR) + "/deploy/make-certs.sh " + certs() +
               " ctl host-a host-b host-c host-d ing-1 gw-1 > /dev/null";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("make-certs.sh failed");
    auto args = tls("ctl");
    args.insert(args.end(), {"--node.roles=controller,ingress", "--cluster.listen=127.0.0.1:0"});
    ctl = std::make_unique<test::node_process>(dir_.path() / "ctl", args);
  }

  /// A host node joining the controller; `extra` settings replace the defaults.
  std::unique_ptr<test::node_process> start_host(const std::string& id,
                                                 std::vector<std::string> extra = {}) {
    auto args = tls(id);
    std::vector<std::string> defaults{"--node.roles=host",
                                      "--host.id=" + id,
                                      "--host.warm-runtimes=provided",
                                      "--host.pool-size=1",
                                      "--cluster.listen=127.0.0.1:0",
                                      "--cluster.controller=127.0.0.1:" +
                                          std::to_string(ctl->cluster_port())};
    for (const auto& d : defaults) {
      auto key = d.substr(0, d.find('=') + 1);
      if (std::none_of(extra.begin(), extra.end(),
                       [&](const std::string& e) { return e.rfind(key, 0) == 0; }))
        args.push_back(d);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<test::node_process>(dir_.path() / id, args);
  }

  /// A gateway node of its own, joining the controller.
  std::unique_ptr<test::node_process> start_gateway(const std::string& id,
                                                    std::vector<std::string> extra = {}) {
    auto args = tls(id);
    args.insert(args.end(),
                {"--node.roles=gateway", "--gateway.id=" + id, "--cluster.listen=127.0.0.1:0",
                 "--cluster.controller=127.0.0.1:" + std::to_string(ctl->cluster_port())});
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<test::node_process>(dir_.path() / id, args);
  }

  /// Waits (bounded) until `n` gateways are registered.
  void await_gateways(size_t n) {
    auto until = steady_clock::now() + seconds(20);
    for (;;) {
      auto body = ctl->client().request("GET", "/troupe/gateways").body;
      if (test::count(body, "\"Id\":") == n)
        return;
      if (steady_clock::now() > until)
        throw std::runtime_error("gateways never registered: " + body);
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  /// An ingress node of its own, joining the controller.
  std::unique_ptr<test::node_process> start_ingress(const std::string& name) {
    auto args = tls(name);
    args.insert(args.end(), {"--node.roles=ingress", "--cluster.controller=127.0.0.1:" +
                                                         std::to_string(ctl->cluster_port())});
    return std::make_unique<test::node_process>(dir_.path() / name, args);
  }

  std::string hosts() { return ctl->client().request("GET", "/troupe/hosts").body; }

  bool listed(const std::string& id) { return hosts().find("\"" + id + "\"") != std::string::npos; }

  /// The instances host `id` runs now, as the scheduler lists them.
  int instances_of(const std::string& id) {
    auto text = hosts();
    auto at = text.find("\"" + id + "\"");
    auto field = text.find("\"Instances\":", at);
    if (at == std::string::npos || field == std::string::npos)
      throw std::runtime_error("host " + id + " is not listed: " + text);
    return std::stoi(text.substr(field + 12));
  }

  /// Waits (bounded) until host `id` is listed, or not; the time it took.
  milliseconds await(const std::string& id, bool present, seconds limit = seconds(20)) {
    auto t0 = steady_clock::now();
    while (listed(id) != present) {
      if (steady_clock::now() - t0 > limit)
        throw std::runtime_error("host " + id + (present ? " never joined" : " never left"));
      std::this_thread::sleep_for(milliseconds(5));
    }
    return duration_cast<milliseconds>(steady_clock::now() - t0);
  }

  std::unique_ptr<test::node_process> ctl;

private:
  std::string certs() const { return (dir_.path() / "certs").string(); }
  std::vector<std::string> tls(const std::string& name) const {
    return {"--openssl.certificate=" + certs() + "/" + name + ".pem",
            "--openssl.key=" + certs() + "/" + name + ".key",
            "--openssl.cafile=" + certs() + "/ca.pem"};
  }
  test::temp_dir dir_;
};

std::string stats_json(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return R"("trials":)" + std::to_string(ms.size()) + R"(,"p50_ms":)" + num(ms[ms.size() / 2]) +
         R"(,"max_ms":)" + num(ms.back());
}

/// From the signal to the host's removal from the scheduler's list.
void dead_host_detection(local_cluster& c, int trials) {
  for (int sig : {SIGKILL, SIGSTOP}) {
    std::vector<double> ms;
    for (int i = 0; i < trials; ++i) {
      auto host = c.start_host("host-a");
      c.await("host-a", true);
      ::kill(host->pid(), sig);
      ms.push_back(double(c.await("host-a", false).count()));
      host->kill9();
    }
    emit(R"({"bench":"dead_host_detect","signal":")" +
         std::string(sig == SIGKILL ? "SIGKILL" : "SIGSTOP") + R"(",)" + stats_json(ms) +
         R"(,"heartbeat_ms":250,"connection_timeout_ms":1000})");
  }
}

/// From SIGKILL of the host running a function's only instance to the
/// function's first good answer again (served by the other host).
void recovery(local_cluster& c, int trials) {
  auto a = c.start_host("host-a");
  auto b = c.start_host("host-b");
  c.await("host-a", true);
  c.await("host-b", true);
  std::vector<double> ms;
  for (int i = 0; i < trials; ++i) {
    auto before = c.instances_of("host-a");
    auto target = deploy(*c.ctl, "recover-" + std::to_string(i), "provided", "bootstrap",
                         test::read_file(test::example_zip("cpp-echo")));
    if (c.ctl->client().request("POST", target, "{}").status != 200)
      throw std::runtime_error("recovery: first invoke failed");
    bool on_a = c.instances_of("host-a") > before;
    auto& victim = on_a ? a : b;
    auto victim_id = on_a ? "host-a" : "host-b";
    auto t0 = steady_clock::now();
    victim->kill9();
    while (c.ctl->client().request("POST", target, "{}").status != 200) {
      if (steady_clock::now() - t0 > seconds(30))
        throw std::runtime_error("recovery: the function never answered again");
    }
    ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
    victim = c.start_host(victim_id);
    c.await(victim_id, true);
  }
  emit(R"({"bench":"host_loss_recovery",)" + stats_json(ms) + "}");
}

/// A host that takes placements and never launches: the scheduler alone is measured.
host_actor::behavior_type idle_host() {
  return {
      [](launch_atom, const std::string&, const function_config&, const router_actor&)
          -> caf::result<instance_actor> { return caf::sec::unexpected_message; },
      [](drain_atom, bool) {},
      [](orphan_atom, const std::string&) {},
      [](logs_atom, const std::string&, int32_t) { return std::string{}; },
      [](instances_atom) { return std::vector<instance_status>{}; },
  };
}

/// Placements answered per second with every one written to RocksDB (group
/// commit: what piles up in the mailbox shares one synced write), `n` of
/// them `window` at a time.
void placement_rate(int n, int window) {
  test::temp_dir data;
  std::string error;
  auto store = storage::open_rocksdb_store((data.path() / "db").string(), error);
  if (!store)
    throw std::runtime_error("rocksdb: " + error);
  caf::actor_system_config cfg;
  register_troupe_types(cfg);
  cfg.set("scheduler.max-threads", size_t{2});
  std::promise<double> done; // set once, by the driver; outlives the actors
  caf::actor_system sys{cfg};
  // No per-function limit here: the rate of placing is measured, not the limit.
  auto scheduler =
      spawn_scheduler(sys, *store, {std::numeric_limits<int32_t>::max(), 10'000, {}, 0, {}});
  for (int h = 0; h < 8; ++h)
    caf::anon_send(scheduler, host_up_atom::value,
                   host_info{"h" + std::to_string(h), "z", 1 << 20, 1 << 20, 2, {}, false, "", {}},
                   sys.spawn(idle_host));
  sys.spawn([&, n, window](caf::event_based_actor* self) {
    auto t0 = std::make_shared<steady_clock::time_point>(steady_clock::now());
    auto sent = std::make_shared<int>(0), answered = std::make_shared<int>(0);
    auto failed = std::make_shared<bool>(false);
    auto one = std::make_shared<std::function<void()>>();
    *one = [=, &done] {
      function_config fn;
      fn.name = "f" + std::to_string(*sent % 1000);
      fn.memory_mb = 128;
      ++*sent;
      self->request(scheduler, seconds(30), place_atom::value, fn, std::vector<std::string>{})
          .then(
              [=, &done](const placement&, const host_actor&) {
                if (++*answered == n)
                  done.set_value(n / duration<double>(steady_clock::now() - *t0).count());
                else if (*sent < n)
                  (*one)();
              },
              [=, &done](caf::error& err) {
                if (std::exchange(*failed, true))
                  return;
                done.set_exception(std::make_exception_ptr(
                    std::runtime_error("placement failed: " + to_string(err))));
                self->quit();
              });
    };
    for (int i = 0; i < window; ++i)
      (*one)();
  });
  auto result = done.get_future();
  if (result.wait_for(seconds(120)) != std::future_status::ready)
    throw std::runtime_error("placements did not finish within 120 s");
  auto per_s = result.get();
  emit(R"({"bench":"placement_rate","placements":)" + std::to_string(n) + R"(,"outstanding":)" +
       std::to_string(window) + R"(,"durable":true,"per_second":)" + num(per_s) + "}");
  caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
}

/// Warm invokes through the controller node's ingress of an instance on a
/// host node (two BASP hops over TLS), one connection, `n` of them.
void remote_warm(local_cluster& c, int n) {
  auto host = c.start_host("host-c"); // an id the other benchmarks do not reuse
  c.await("host-c", true);
  auto target = deploy(*c.ctl, "remote-warm", "provided", "bootstrap",
                       test::read_file(test::example_zip("cpp-echo")));
  // The warm-up's first round trip is the cold start.
  auto l = one_connection(c.ctl->port(), target, warm_event, n);
  host.reset();
  c.await("host-c", false);
  emit(R"({"bench":"warm_invoke_remote_host","n":)" + std::to_string(n) + R"(,"p50_us":)" +
       num(l.p50_us) + R"(,"p99_us":)" + num(l.p99_us) + "}");
}

/// Warm invokes through an ingress node of its own (connected to the host
/// directly), with the controller's node up, and then killed: the data plane
/// must not notice. Ends the controller: the last cluster benchmark.
void controller_down(local_cluster& c, int n) {
  // Tearing down the burst's 1000 sandboxes keeps the kernel busy for tens of
  // seconds; a node joining meanwhile is refused by the heartbeat-cut handshakes.
  await_quiet_machine(seconds(120));
  auto host = c.start_host("host-d");
  c.await("host-d", true);
  auto ing = c.start_ingress("ing-1");
  std::string target;
  for (int i = 0; i < 200 && target.empty(); ++i) { // until it has joined
    try {
      target = deploy(*ing, "via-ingress", "provided", "bootstrap",
                      test::read_file(test::example_zip("cpp-echo")));
    } catch (const std::exception&) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  if (target.empty())
    throw std::runtime_error("the ingress node did not join");
  int failed = 0; // counted, not thrown: the figure is how many fail
  auto up = one_connection(ing->port(), target, warm_event, n, 50, &failed);
  c.ctl->kill9();
  auto down = one_connection(ing->port(), target, warm_event, n, 0, &failed);
  emit(R"({"bench":"warm_invoke_via_ingress_node","n":)" + std::to_string(n) +
       R"(,"controller_up":{"p50_us":)" + num(up.p50_us) + R"(,"p99_us":)" + num(up.p99_us) +
       R"(},"controller_down":{"p50_us":)" + num(down.p50_us) + R"(,"p99_us":)" + num(down.p99_us) +
       R"(},"failed":)" + std::to_string(failed) + "}");
}

/// `n` cold starts of distinct functions released at once, one connection
/// each, on three hosts whose pools hold a third of them each: the wall time
/// until every one has answered.
void spread_burst(local_cluster& c, int n) {
  auto per_host = n / 3 + 8;
  std::vector<std::string> pool{"--host.memory-mb=" + std::to_string(128 * (per_host + 8)),
                                "--host.pool-size=" + std::to_string(per_host),
                                "--host.pool-max=" + std::to_string(per_host),
                                "--host.pool-refill=1"};
  std::vector<std::unique_ptr<test::node_process>> hosts;
  for (const auto* id : {"host-a", "host-b", "host-c"}) {
    hosts.push_back(c.start_host(id, pool));
    c.await(id, true);
  }
  auto zip = test::read_file(test::example_zip("cpp-echo"));
  std::vector<std::string> targets;
  for (int i = 0; i < n; ++i)
    targets.push_back(deploy(*c.ctl, "spread-" + std::to_string(i), "provided", "bootstrap", zip));
  for (auto& h : hosts)
    await_sandboxes(*h, size_t(per_host), seconds(300));
  auto settled = await_quiet_machine(seconds(120));
  // Where the CPU goes: the controller+ingress node, the host nodes, this
  // client's threads, and the rest (the sandboxes, the kernel).
  auto hosts_cpu = [&] {
    double ms = 0;
    for (auto& h : hosts)
      ms += process_cpu_ms(h->pid());
    return ms;
  };
  double ctl0 = 0, hosts0 = 0, client0 = 0, all0 = 0;
  auto b = burst(c.ctl->port(), targets, "{}", [&] {
    ctl0 = process_cpu_ms(c.ctl->pid());
    hosts0 = hosts_cpu();
    client0 = process_cpu_ms(getpid());
    all0 = machine_busy_ms();
  });
  auto ctl_ms = process_cpu_ms(c.ctl->pid()) - ctl0, hosts_ms = hosts_cpu() - hosts0;
  auto client_ms = process_cpu_ms(getpid()) - client0, all_ms = machine_busy_ms() - all0;
  emit(R"({"bench":"cold_starts_over_hosts","hosts":3,"cold_starts":)" + std::to_string(n) +
       R"(,"failed":)" + std::to_string(b.failed) + R"(,"seconds":)" + num(b.seconds) +
       R"(,"per_second":)" + num(n / b.seconds) + R"(,"settled_s":)" + num(settled) +
       R"(,"cpu_ms":{"controller_node":)" + num(ctl_ms) + R"(,"host_nodes":)" + num(hosts_ms) +
       R"(,"client":)" + num(client_ms) + R"(,"rest":)" +
       num(all_ms - ctl_ms - hosts_ms - client_ms) + R"(,"machine":)" + num(all_ms) +
       R"(},"instances":)" + c.hosts() + "}");
}

const std::string from_origin = R"(troupe_package_fetched_bytes_total{source="origin"})";
const std::string from_peers = R"(troupe_package_fetched_bytes_total{source="peer"})";

/// A python function whose handler module is 1 MB (Python reads it whole at
/// import) beside `other_mb` MB of files it never opens, or, with
/// `read_all`, reads at import; `salt` makes its package a new one.
std::string package_zip(int other_mb, int salt, bool read_all = false) {
  std::string handler = "SALT = " + std::to_string(salt) + "\n";
  if (read_all)
    handler += "import os\nREAD = sum(len(open(os.path.join(d, f), 'rb').read())\n"
               "           for d, _, fs in os.walk('/var/task') for f in fs)\n";
  handler += "def handler(event, context):\n  return {'salt': SALT}\n";
  while (handler.size() < (1u << 20))
    handler += "# padding: the handler module is one megabyte of source ....................\n";
  std::vector<test::file_entry> files{{"handler.py", handler}};
  for (int i = 0; i < other_mb; ++i) { // distinct bytes per file and package
    std::string blob(1u << 20, static_cast<char>('a' + (i + salt) % 26));
    blob.replace(0, 16, std::to_string(salt * 1000 + i));
    files.push_back({"data/blob-" + std::to_string(i) + ".bin", std::move(blob)});
  }
  return test::make_zip(files);
}

/// Cold starts on a host that has never seen the function, which reads 1 MB
/// of its package, when the package holds nothing else and when it holds
/// 100 MB more; interleaved, so the two meet the same machine.
void package_cold_starts(local_cluster& c, int trials) {
  auto host = c.start_host("host-a", {"--host.warm-runtimes=python3", "--host.pool-size=2",
                                      "--metrics.listen=127.0.0.1:0"});
  c.await("host-a", true);
  std::map<int, std::vector<double>> ms;
  std::map<int, double> fetched;
  for (int t = 0; t < trials; ++t)
    for (int other : {0, 100}) {
      auto name = "pkg-" + std::to_string(other) + "-" + std::to_string(t);
      auto target = deploy(*c.ctl, name, "python3.11", "handler.handler", package_zip(other, t));
      std::this_thread::sleep_for(milliseconds(300)); // the pool refills
      auto before = test::metric(*host, from_origin);
      net::http_client cl{"127.0.0.1", c.ctl->port(), seconds(60)};
      auto t0 = steady_clock::now();
      auto r = cl.request("POST", target, "{}");
      ms[other].push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
      if (r.status != 200)
        throw std::runtime_error(name + ": " + r.body);
      fetched[other] += test::metric(*host, from_origin) - before;
    }
  for (int other : {0, 100})
    emit(R"({"bench":"package_cold_start","handler_mb":1,"other_mb":)" + std::to_string(other) +
         "," + stats_json(ms[other]) + R"(,"fetched_kb_per_start":)" +
         num(fetched[other] / 1024 / trials) + "}");
  auto p50 = [&](int other) {
    auto v = ms[other];
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  emit(R"({"bench":"package_cold_start_ratio","other_mb":100,"ratio_p50":)" +
       num(p50(100) / p50(0)) + R"(,"target":1.3})");
  host.reset();
  c.await("host-a", false);
}

/// Three hosts start the same new function at once (one instance each);
/// where its bytes came from: the origin, or the other hosts.
void package_burst(local_cluster& c, int mb) {
  std::vector<std::unique_ptr<test::node_process>> hosts;
  for (const auto* id : {"host-b", "host-c", "host-d"}) {
    hosts.push_back(c.start_host(id, {"--host.warm-runtimes=python3", "--host.memory-mb=128",
                                      "--metrics.listen=127.0.0.1:0"}));
    c.await(id, true);
  }
  auto target =
      deploy(*c.ctl, "pkg-burst", "python3.11", "handler.handler", package_zip(mb, 7, true));
  std::this_thread::sleep_for(milliseconds(500));
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      net::http_client cl{"127.0.0.1", c.ctl->port(), seconds(60)};
      return cl.request("POST", target, "{}").status;
    }));
  int failed = 0;
  for (auto& f : calls)
    failed += f.get() == 200 ? 0 : 1;
  double origin = 0, peers = 0;
  std::string per_host;
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto o = test::metric(*hosts[i], from_origin), p = test::metric(*hosts[i], from_peers);
    origin += o;
    peers += p;
    per_host += std::string(i ? "," : "") + R"({"origin_kb":)" + num(o / 1024) + R"(,"peers_kb":)" +
                num(p / 1024) + "}";
  }
  emit(R"({"bench":"package_burst","hosts":3,"package_mb":)" + std::to_string(mb + 1) +
       R"(,"failed":)" + std::to_string(failed) + R"(,"origin_kb":)" + num(origin / 1024) +
       R"(,"peers_kb":)" + num(peers / 1024) + R"(,"origin_share":)" +
       num(origin / std::max(1.0, origin + peers)) + R"(,"per_host":[)" + per_host + "]}");
}

} // namespace

void package_benches(int trials) {
  local_cluster c;
  package_cold_starts(c, trials);
  package_burst(c, 16);
}

/// A destination on 127.0.0.2 for the egress benchmarks: it accepts every
/// connection and keeps it (`hold`), or, one connection at a time, reads a
/// request (to its first newline) and writes `stream_bytes` as fast as the
/// reader takes them, then closes.
class destination {
public:
  destination(size_t stream_bytes) : bytes_(stream_bytes) {
    fd_ = test::listen_tcp(0x7f000002, port_, 4096);
    thread_ = std::thread([this] { serve(); });
  }
  ~destination() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : held_)
      ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::atomic<bool> hold{true};

private:
  void serve() {
    std::string data(1 << 20, 'x');
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        return;
      if (hold) {
        held_.push_back(c);
        continue;
      }
      timeval limit{10, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
      char ch = 0;
      while (::read(c, &ch, 1) == 1 && ch != '\n') {
      }
      for (size_t sent = 0; sent < bytes_;) {
        auto n = ::send(c, data.data(), std::min(data.size(), bytes_ - sent), MSG_NOSIGNAL);
        if (n <= 0)
          break;
        sent += size_t(n);
      }
      ::close(c);
    }
  }

  size_t bytes_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> held_;
  std::thread thread_;
};

/// The egress probe, in Python: the same code reads a stream through the
/// sandbox's proxy and, run by the benchmark outside any sandbox, directly.
const char* egress_probe_py = R"(import os, socket, sys, time, urllib.parse
PROXY = urllib.parse.urlparse(os.environ.get('HTTPS_PROXY', 'http://127.0.0.1:3128'))
def connect(host, port):
    s = socket.socket()
    s.connect((host, port))  # a numeric address: no resolver
    return s
def tunnel(host, port):
    t = time.perf_counter()
    s = connect(PROXY.hostname, PROXY.port)
    s.sendall(('CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (host, port, host, port)).encode())
    head = b''
    while b'\r\n\r\n' not in head:  # the destination does not speak first
        chunk = s.recv(4096)
        if not chunk:
            raise OSError('closed: %r' % head)
        head += chunk
    if b' 200 ' not in head.split(b'\r\n')[0]:
        raise OSError(head.decode(errors='replace'))
    return s, (time.perf_counter() - t) * 1e6
def direct_connect():
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(1)
    t = time.perf_counter()
    c = connect(*ls.getsockname())
    us = (time.perf_counter() - t) * 1e6
    ls.accept()[0].close()
    c.close()
    ls.close()
    return us
def read_all(s):
    s.sendall(b'GET\n')
    buf = bytearray(1 << 20)
    n = 0
    t = time.perf_counter()
    while True:
        k = s.recv_into(buf)
        if k == 0:
            break
        n += k
    return {'bytes': n, 'seconds': time.perf_counter() - t}
def median(v):
    return sorted(v)[len(v) // 2]
def handler(e, c):
    if e['mode'] == 'latency':
        s, first = tunnel(e['host'], e['port'])
        s.close()
        warm = []
        for _ in range(20):
            s, us = tunnel(e['host'], e['port'])
            s.close()
            warm.append(us)
        return {'first_us': first, 'warm_us': median(warm),
                'direct_us': median([direct_connect() for _ in range(20)])}
    if e['mode'] == 'stream':
        return read_all(tunnel(e['host'], e['port'])[0])
    socks, error = [], ''
    for _ in range(e['n']):
        try:
            socks.append(tunnel(e['host'], e['port'])[0])
        except OSError as x:
            error = str(x)
            break
    time.sleep(e['hold_s'])
    for s in socks:
        s.close()
    return {'held': len(socks), 'error': error}
if __name__ == '__main__':
    print(read_all(connect(sys.argv[1], int(sys.argv[2])))['seconds'])
)";

/// `x` with two decimals, for JSON ratios.
std::string num2(double x) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

/// A number field of a flat JSON answer (-1 if missing).
double field(const std::string& json, const std::string& name) {
  auto at = json.find("\"" + name + "\": ");
  return at == std::string::npos ? -1 : std::stod(json.substr(at + name.size() + 4));
}

/// The egress measurements through `front`'s ingress, whose gateway runs in
/// process `gw` (serving metrics), `where` naming the setup.
void egress_suite(test::node_process& front, test::node_process& gw, const std::string& where,
                  int trials) {
  auto r = front.client().request("PUT", "/troupe/egress/default", R"({"Rules":["127.0.0.2"]})");
  if (r.status != 200)
    throw std::runtime_error("egress rules: " + r.body);
  auto zip = test::make_zip({{"probe.py", egress_probe_py}});
  net::http_client cl{"127.0.0.1", front.port(), seconds(120)};
  auto call = [&](const std::string& target, const std::string& event) {
    auto a = cl.request("POST", target, event);
    if (a.status != 200 || !test::header(a, "X-Amz-Function-Error").empty())
      throw std::runtime_error("egress probe: " + a.body);
    return a.body;
  };
  destination dest{64u << 20};
  auto to = R"(,"host":"127.0.0.2","port":)" + std::to_string(dest.port());
  auto label = R"("gateway":")" + where + "\"";

  // 1. The first proxied connection of each of `trials` cold instances.
  std::vector<double> first, warm, direct;
  for (int t = 0; t < trials; ++t) {
    auto target =
        deploy(front, "egress-lat-" + std::to_string(t), "python3.11", "probe.handler", zip);
    std::this_thread::sleep_for(milliseconds(300)); // the pool refills
    auto out = call(target, R"({"mode":"latency")" + to + "}");
    first.push_back(field(out, "first_us"));
    warm.push_back(field(out, "warm_us"));
    direct.push_back(field(out, "direct_us"));
  }
  auto p50 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  emit(R"({"bench":"egress_first_connection",)" + label + R"(,"trials":)" + std::to_string(trials) +
       R"(,"first_p50_us":)" + num(p50(first)) + R"(,"warm_p50_us":)" + num(p50(warm)) +
       R"(,"direct_loopback_p50_us":)" + num(p50(direct)) + R"(,"added_first_p50_ms":)" +
       num((p50(first) - p50(direct)) / 1000) + R"(,"target_added_ms":1})");

  // 2. One 64 MB stream, proxied and direct, interleaved.
  dest.hold = false;
  auto target = deploy(front, "egress-stream", "python3.11", "probe.handler", zip, 60);
  test::temp_dir scratch;
  auto script = (scratch.path() / "probe.py").string();
  {
    std::ofstream out{script};
    out << egress_probe_py;
  }
  std::vector<double> proxied_mbs, direct_mbs;
  for (int t = 0; t < std::max(3, trials / 2); ++t) {
    auto out = call(target, R"({"mode":"stream")" + to + "}");
    if (field(out, "bytes") != double(64u << 20))
      throw std::runtime_error("egress stream: " + out);
    proxied_mbs.push_back(64 / field(out, "seconds"));
    auto [status, said] =
        test::run("python3 " + script + " 127.0.0.2 " + std::to_string(dest.port()));
    if (status != 0)
      throw std::runtime_error("direct stream: " + said);
    direct_mbs.push_back(64 / std::stod(said));
  }
  emit(R"({"bench":"egress_stream",)" + label + R"(,"mb":64,"proxied_p50_mb_s":)" +
       num(p50(proxied_mbs)) + R"(,"direct_p50_mb_s":)" + num(p50(direct_mbs)) + R"(,"ratio":)" +
       num2(p50(proxied_mbs) / p50(direct_mbs)) + R"(,"target":0.5})");

  // 3. Connections held at once: 8 instances opening up to 900 each.
  dest.hold = true;
  auto hold_target = deploy(front, "egress-hold", "python3.11", "probe.handler", zip, 60);
  auto rss0 = rss_kb(gw.pid());
  std::vector<std::future<std::string>> holders;
  for (int i = 0; i < 8; ++i)
    holders.push_back(std::async(std::launch::async, [&] {
      net::http_client one{"127.0.0.1", front.port(), seconds(120)};
      return one.request("POST", hold_target, R"({"mode":"hold","n":900,"hold_s":5)" + to + "}")
          .body;
    }));
  double peak = 0;
  long peak_rss = rss0;
  for (auto until = steady_clock::now() + seconds(90);
       steady_clock::now() < until && std::any_of(holders.begin(), holders.end(),
                                                  [](auto& f) {
                                                    return f.wait_for(milliseconds(0)) !=
                                                           std::future_status::ready;
                                                  });
       std::this_thread::sleep_for(milliseconds(200))) {
    peak = std::max(peak, test::metric(gw, "troupe_egress_open_connections"));
    peak_rss = std::max(peak_rss, rss_kb(gw.pid()));
  }
  int held = 0, short_of = 0;
  for (auto& f : holders) {
    auto out = f.get();
    held += std::max(0, int(field(out, "held")));
    if (out.find(R"("error": "")") == std::string::npos) {
      ++short_of;
      std::cerr << "egress hold: " << out << "\n";
    }
  }
  emit(R"({"bench":"egress_connections_held",)" + label + R"(,"asked":7200,"opened":)" +
       std::to_string(held) + R"(,"gateway_peak_open":)" + num(peak) +
       R"(,"gateway_node_kb_per_connection":)" + num(peak > 0 ? (peak_rss - rss0) / peak : 0) +
       R"(,"instances_short":)" + std::to_string(short_of) + "}");
}

/// Outbound connections through a gateway node of its own (TLS between
/// the host and the gateway, as in production), then through the gateway
/// beside the host on an all-in-one node: the first connection of cold
/// instances against a direct loopback connection in the same sandbox; one
/// stream's throughput against the same reader connected directly; how
/// many connections one gateway holds at once.
void egress_benches(int trials) {
  {
    local_cluster c;
    auto gw = c.start_gateway(
        "gw-1", {"--gateway.tenant-connections=100000", "--metrics.listen=127.0.0.1:0"});
    auto host = c.start_host("host-a", {"--host.warm-runtimes=python3", "--host.pool-size=4"});
    c.await("host-a", true);
    c.await_gateways(1);
    egress_suite(*c.ctl, *gw, "own_node", trials);
  }
  test::temp_dir dir;
  test::node_process node{dir.path(),
                          {"--host.warm-runtimes=python3", "--host.pool-size=4",
                           "--gateway.tenant-connections=100000", "--metrics.listen=127.0.0.1:0"}};
  egress_suite(node, node, "host_node", trials);
}

void cluster_benches(int trials) {
  placement_rate(100'000, 1000);
  local_cluster c;
  remote_warm(c, 2000);
  dead_host_detection(c, trials);
  recovery(c, trials);
  spread_burst(c, 1000);
  controller_down(c, 2000);
}

} // namespace troupe::bench
