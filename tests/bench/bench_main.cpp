// troupe-bench: the benchmarks of tests/bench, printed as JSON lines.
//   warm   invoke of the C++ echo through the ingress vs a minimal Beast server
//          (p50/p99 at 1 connection, throughput at 32 connections, and their
//          ratios), and the CAF scheduler policies compared on that path;
//   cold   cold start through the ingress of the C++, Python and Node.js
//          examples, template hit and template miss, p50/p99, beside the bare
//          fork+exec+exit of the same binary measured in the same run;
//   launch a burst of 500 concurrent cold starts of distinct functions, with
//          the pool stocked and empty, beside the rate at which the machine
//          spawns and reaps the bare program (no sandbox, no platform);
//   density  idle instances one host holds and the memory each costs;
//   cluster  a controller node and TLS-joined host nodes: how fast a dead host
//          is detected, how fast its function answers again, placements/s.
#include "../integration/node_process.hpp"
#include "baseline_server.hpp"
#include "bench_support.hpp"
#include "net/lambda_api.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace troupe;
using bench::await_sandboxes;
using bench::children_of;
using bench::deploy;
using bench::emit;
using bench::latency;
using bench::num;
using bench::one_connection;
using bench::percentiles;
using namespace std::chrono;

namespace {

const std::string event = R"({"hello":"world","n":12345})";

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

/// The node's CPU share while idle for `span`, right after load.
double idle_cpu_percent(pid_t pid, seconds span) {
  auto before = bench::process_cpu_ms(pid);
  std::this_thread::sleep_for(span);
  return (bench::process_cpu_ms(pid) - before) / duration<double, std::milli>(span).count() * 100.0;
}

void warm(const std::string& label, std::vector<std::string> args, int n, seconds span,
          bool with_baseline) {
  test::temp_dir data;
  test::node_process node{data.path(), std::move(args)};
  const std::string& policy = label;
  auto target = deploy(node, "cpp-echo", "provided", "bootstrap",
                       test::read_file(test::example_zip("cpp-echo")));
  auto t1 = one_connection(node.port(), target, event, n);
  auto rps = throughput(node.port(), target, 32, span);
  auto idle = idle_cpu_percent(node.pid(), seconds(3));
  std::string line = R"({"bench":"warm_invoke","function":"cpp-echo","scheduler":")" + policy +
                     R"(","p50_us":)" + num(t1.p50_us) + R"(,"p99_us":)" + num(t1.p99_us) +
                     R"(,"rps_32":)" + num(rps) + R"(,"idle_cpu_pct_after_load":)" + num(idle);
  if (with_baseline) {
    bench::baseline_server base{event};
    auto b1 = one_connection(base.port(), "/", event, n);
    auto brps = throughput(base.port(), "/", 32, span);
    emit(R"({"bench":"baseline_beast","p50_us":)" + num(b1.p50_us) + R"(,"p99_us":)" +
         num(b1.p99_us) + R"(,"rps_32":)" + num(brps) + "}");
    line += R"(,"p50_ratio":)" + num(t1.p50_us / b1.p50_us) + R"(,"rps_ratio":)" +
            std::to_string(rps / brps);
  }
  emit(line + "}");
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& x : v)
    out.push_back(x.data());
  out.push_back(nullptr);
  return out;
}

/// The C++ example's runtime, as the build leaves it beside its zip.
std::string cpp_echo_binary() {
  return (test::example_zip("cpp-echo").parent_path() / "cpp-echo" / "bootstrap").string();
}

/// fork + execve + waitpid of `argv`, `n` times: the floor a cold start is compared to.
latency fork_exec(std::vector<std::string> argv, std::vector<std::string> env, int n) {
  auto args = c_strings(argv);
  auto envp = c_strings(env);
  std::vector<double> us;
  for (int i = 0; i < n + 3; ++i) {
    auto t0 = steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
      int null_fd = open("/dev/null", O_WRONLY);
      dup2(null_fd, 1);
      dup2(null_fd, 2);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (i >= 3) // the first runs warm the page cache
      us.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
  }
  return percentiles(std::move(us));
}

/// One example as the cold-start benchmark runs it.
struct cold_case {
  std::string label, runtime, handler, zip;
  std::vector<std::string> floor_argv; ///< the same binary, doing nothing
  int refill_ms;                       ///< pause that lets the pool refill between starts
};

void cold(const cold_case& c, bool template_hit, int n, const latency& floor) {
  test::temp_dir data;
  std::vector<std::string> args{"--host.memory-mb=" + std::to_string(128 * (n + 8))};
  if (!template_hit) { // no stock at all: every cold start makes its template
    args.push_back("--host.pool-size=0");
    args.push_back("--host.pool-max=0");
  }
  test::node_process node{data.path(), args};
  std::this_thread::sleep_for(milliseconds(c.refill_ms * 3)); // the pools fill at start
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto target = deploy(node, c.label + "-" + std::to_string(i), c.runtime, c.handler, c.zip);
    std::this_thread::sleep_for(milliseconds(c.refill_ms)); // as between bursts
    auto t0 = steady_clock::now();
    auto r = node.client().request("POST", target, event);
    us.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (r.status != 200)
      throw std::runtime_error("cold " + c.label + ": " + r.body);
  }
  auto l = percentiles(std::move(us));
  emit(R"({"bench":"cold_start","function":")" + c.label + R"(","template":")" +
       (template_hit ? "hit" : "miss") + R"(","n":)" + std::to_string(n) + R"(,"p50_us":)" +
       num(l.p50_us) + R"(,"p99_us":)" + num(l.p99_us) + R"(,"fork_exec_p50_us":)" +
       num(floor.p50_us) + R"(,"p50_ratio_to_fork_exec":)" + num(l.p50_us / floor.p50_us) + "}");
}

void cold_starts(int n, const std::string& only) {
  auto example = [](const char* name) { return test::read_file(test::example_zip(name)); };
  std::vector<cold_case> cases{
      {"cpp-echo", "provided", "bootstrap", example("cpp-echo"), {cpp_echo_binary()}, 50},
      {"python-echo",
       "python3",
       "handler.handler",
       example("python-echo"),
       {"/usr/bin/python3", "-c", "pass"},
       150},
      {"node-echo",
       "nodejs20.x",
       "index.handler",
       example("node-echo"),
       {"/usr/bin/node", "-e", "0"},
       300},
  };
  for (const auto& c : cases) {
    if (!only.empty() && c.label != only)
      continue;
    // Without AWS_LAMBDA_RUNTIME_API the C++ runtime returns at once (no
    // exception path, which a static binary unwinds slowly).
    auto floor = fork_exec(c.floor_argv, {}, 30);
    emit(R"({"bench":"fork_exec","binary":")" + c.floor_argv[0] + R"(","p50_us":)" +
         num(floor.p50_us) + R"(,"p99_us":)" + num(floor.p99_us) + "}");
    cold(c, true, n, floor);
    cold(c, false, n, floor);
  }
}

/// A field of /proc/<pid>/smaps_rollup in kB (0 if the process is gone).
double smaps_kb(pid_t pid, const std::string& field) {
  auto text = test::read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  auto at = text.find("\n" + field + ":");
  return at == std::string::npos ? 0.0 : std::stod(text.substr(at + field.size() + 2));
}

double mem_available_kb() {
  std::istringstream in{test::read_file("/proc/meminfo")};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("MemAvailable:", 0) == 0)
      return std::stod(line.substr(13));
  return 0;
}

/// An example function as the launch and density benchmarks deploy it, and
/// the bare program the launch rate is compared to.
struct example_fn {
  std::string example, runtime, handler;
  std::vector<std::string> floor_argv;
};

const example_fn cpp_echo{"cpp-echo", "provided", "bootstrap", {cpp_echo_binary()}};
const example_fn python_echo{
    "python-echo", "python3.11", "handler.handler", {"/usr/bin/python3", "-c", "pass"}};

/// Processes of `argv` started, run to their exit and reaped per second, `n`
/// in all, four at a time (two per core): the machine's own launch rate for
/// the program, without any sandbox, network or platform.
double spawn_rate(std::vector<std::string> argv, int n) {
  auto args = c_strings(argv);
  std::vector<std::string> no_env;
  auto envp = c_strings(no_env);
  std::atomic<int> left{n};
  auto t0 = steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      posix_spawn_file_actions_t quiet;
      posix_spawn_file_actions_init(&quiet);
      posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
      while (left-- > 0) {
        pid_t pid = -1;
        int status = 0;
        if (posix_spawn(&pid, args[0], &quiet, nullptr, args.data(), envp.data()) == 0)
          waitpid(pid, &status, 0);
      }
      posix_spawn_file_actions_destroy(&quiet);
    });
  for (auto& t : ts)
    t.join();
  return n / duration<double>(steady_clock::now() - t0).count();
}

/// Deploys `n` functions of `fn`; their invoke paths.
std::vector<std::string> deploy_many(test::node_process& node, int n, const std::string& prefix,
                                     const example_fn& fn = cpp_echo) {
  auto zip = test::read_file(test::example_zip(fn.example));
  std::vector<std::string> targets;
  for (int i = 0; i < n; ++i)
    targets.push_back(deploy(node, prefix + std::to_string(i), fn.runtime, fn.handler, zip));
  return targets;
}

/// Invokes every target once, `conns` at a time; returns the failures.
int invoke_all(uint16_t port, const std::vector<std::string>& targets, int conns) {
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c)
    ts.emplace_back([&] {
      net::http_client cl{"127.0.0.1", port, seconds(120)};
      for (size_t i = next++; i < targets.size(); i = next++)
        if (cl.request("POST", targets[i], event).status != 200)
          ++failed;
    });
  for (auto& t : ts)
    t.join();
  return failed;
}

/// `n` cold starts of distinct functions of `fn` released at the same
/// instant, one connection each, with its (family, 128 MB) pool stocked with
/// `n` templates or empty; refills after the stock fills are paced at
/// `refill_per_s`. `bursts` times, each on a node of its own; reports the
/// median rate and every burst's.
void launch_rate(const example_fn& fn, int n, bool stocked, int refill_per_s, int bursts) {
  std::vector<double> rates, floors;
  int failed = 0;
  for (int b = 0; b < bursts; ++b) {
    floors.push_back(
        spawn_rate(fn.floor_argv, n)); // before the node runs: nothing else on the cores
    test::temp_dir data;
    test::node_process node{data.path(),
                            {"--host.memory-mb=" + std::to_string(128 * (n + 8)),
                             "--host.warm-runtimes=" + net::runtime_family(fn.runtime),
                             "--host.pool-size=" + std::to_string(stocked ? n : 0),
                             "--host.pool-max=" + std::to_string(stocked ? n : 0),
                             "--host.pool-refill=" + std::to_string(refill_per_s),
                             "--ingress.max-in-flight=10000", "--router.max-queue=10000"}};
    auto targets = deploy_many(node, n, "burst-", fn);
    if (stocked)
      await_sandboxes(node, size_t(n), seconds(120));
    auto r = bench::burst(node.port(), targets, event);
    if (std::getenv(
            "TROUPE_BENCH_MARKS")) { // for perf report --time (perf record -k CLOCK_MONOTONIC)
      auto t0 = duration<double>(r.released.time_since_epoch()).count();
      std::cerr << "bench: burst " << std::fixed << t0 << "," << t0 + r.seconds << "\n";
    }
    failed += r.failed;
    rates.push_back(n / r.seconds);
  }
  std::string runs;
  for (auto r : rates)
    runs += (runs.empty() ? "" : ",") + num(r);
  auto rate = percentiles(rates).p50_us, floor = percentiles(floors).p50_us; // medians
  emit(R"({"bench":"launch_rate","function":")" + fn.example + R"(","templates":")" +
       std::string(stocked ? "stocked" : "empty") + R"(","refill_per_s":)" +
       std::to_string(refill_per_s) + R"(,"cold_starts":)" + std::to_string(n) +
       R"(,"concurrency":)" + std::to_string(n) + R"(,"bursts":)" + std::to_string(bursts) +
       R"(,"failed":)" + std::to_string(failed) + R"(,"per_second":)" + num(rate) +
       R"(,"per_second_runs":[)" + runs + R"(],"spawn_per_second":)" + num(floor) +
       R"(,"ratio_to_spawn":)" + num(rate / floor) + "}");
}

/// `n` idle instances of distinct functions on one host, and what each costs:
/// the PSS of its init and of its runtime process (less the runtime's own
/// anonymous memory, the function's heap), the node's growth, and what the
/// machine lost in all (MemAvailable: kernel objects included).
void density(int n) {
  test::temp_dir data;
  test::node_process node{data.path(),
                          {"--host.memory-mb=" + std::to_string(128 * (n + 8)),
                           "--host.warm-runtimes=provided", "--host.pool-max=64",
                           "--host.template-makers=4", "--router.keep-alive=3600s"}};
  auto targets = deploy_many(node, n, "idle-");
  std::this_thread::sleep_for(seconds(1));
  auto node_before = smaps_kb(node.pid(), "Pss");
  auto avail_before = mem_available_kb();
  auto base = children_of(node.pid()).size(); // templates in stock
  auto t0 = steady_clock::now();
  int failed = invoke_all(node.port(), targets, 32);
  auto secs = duration<double>(steady_clock::now() - t0).count();
  std::this_thread::sleep_for(seconds(2));
  double init_pss = 0, runtime_pss = 0, runtime_anon = 0;
  auto inits = children_of(node.pid());
  size_t runtimes = 0;
  for (auto init : inits) {
    init_pss += smaps_kb(init, "Pss");
    for (auto rt : children_of(init)) {
      runtime_pss += smaps_kb(rt, "Pss");
      runtime_anon += smaps_kb(rt, "Anonymous");
      ++runtimes;
    }
  }
  auto held = double(inits.size() - std::min(base, inits.size()));
  auto per = [&](double kb) { return num(kb / double(std::max<size_t>(1, inits.size()))); };
  auto node_growth = (smaps_kb(node.pid(), "Pss") - node_before) / std::max(1.0, held);
  auto platform =
      (init_pss + runtime_pss - runtime_anon) / double(std::max<size_t>(1, inits.size())) +
      node_growth;
  emit(R"({"bench":"density","instances":)" + std::to_string(n) + R"(,"failed":)" +
       std::to_string(failed) + R"(,"sandboxes":)" + std::to_string(inits.size()) +
       R"(,"runtime_processes":)" + std::to_string(runtimes) + R"(,"started_in_s":)" + num(secs) +
       R"(,"init_pss_kb":)" + per(init_pss) + R"(,"runtime_pss_kb":)" + per(runtime_pss) +
       R"(,"runtime_anon_kb":)" + per(runtime_anon) + R"(,"node_growth_kb_per_instance":)" +
       num(node_growth) + R"(,"platform_kb_per_instance":)" + num(platform) +
       R"(,"mem_available_drop_kb_per_instance":)" +
       num((avail_before - mem_available_kb()) / std::max(1.0, held)) + "}");
}

} // namespace

/// troupe-bench [N] [warm|cold|launch|density|cluster|packages|egress|resilience]
/// [instances|function]: N requests per warm latency run (N cold starts per case when the section
/// is cold, else 30; N trials when it is cluster, else 5; N seconds of overload when it is
/// resilience, else 30); one section or all; idle instances for density (5000), or the one example
/// (cpp-echo, python-echo, node-echo) for cold.
int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::string arg3 = argc > 3 ? argv[3] : "";
  int idle = arg3.empty() ? 5000 : std::atoi(arg3.c_str());
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
    if (run("cold"))
      cold_starts(only == "cold" ? n : 30, only == "cold" ? arg3 : "");
    if (run("launch")) {
      int bursts = only == "launch" ? std::max(1, n) : 1;
      if (arg3.empty() || arg3 == "cpp-echo") {
        // the default refill pace competes with the burst
        launch_rate(cpp_echo, 500, true, 200, bursts);
        launch_rate(cpp_echo, 500, true, 1, bursts); // the claim path alone
        launch_rate(cpp_echo, 500, false, 200, bursts);
      }
      if (arg3.empty() || arg3 == "python-echo") {
        // an interpreter already running: no exec
        launch_rate(python_echo, 500, true, 200, bursts);
        launch_rate(python_echo, 500, true, 1, bursts);
      }
    }
    if (run("density"))
      density(idle);
    if (run("cluster"))
      bench::cluster_benches(only == "cluster" ? std::max(1, n) : 5);
    if (run("packages"))
      bench::package_benches(only == "packages" ? std::max(3, n) : 5);
    if (run("egress"))
      bench::egress_benches(only == "egress" ? std::max(3, n) : 10);
    if (run("resilience"))
      bench::resilience_benches(only == "resilience" ? std::max(5, n) : 30);
  } catch (const std::exception& e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
}
