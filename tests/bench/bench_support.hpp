#pragma once
// What every benchmark of troupe-bench shares: JSON-lines output and deploys.
#include "../integration/node_process.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace troupe::bench {

/// Prints one result line (JSON) on stdout.
void emit(const std::string& json);

/// `x` with one decimal, for JSON.
std::string num(double x);

/// CreateFunction through `node`'s ingress; the function's invoke path.
std::string deploy(test::node_process& node, const std::string& name, const std::string& runtime,
                   const std::string& handler, const std::string& zip, int timeout_s = 10);

/// The node's children: the sandboxes' inits.
std::vector<pid_t> children_of(pid_t pid);

/// Median and 99th percentile of a set of round trips.
struct latency {
  double p50_us = 0, p99_us = 0;
};

latency percentiles(std::vector<double> us);

/// Sequential round trips of `body` to `target` on one keep-alive connection,
/// after `warmup` unmeasured ones. Answers other than 200 are counted in
/// `*failed` when it is given, and thrown otherwise.
latency one_connection(uint16_t port, const std::string& target, const std::string& body, int n,
                       int warmup = 50, int* failed = nullptr);

/// CPU time (user + system, ms) process `pid` has used so far.
double process_cpu_ms(pid_t pid);

/// CPU time (ms, all cores) the machine has spent busy so far.
double machine_busy_ms();

/// Waits (bounded by `limit`) until the machine is quiet: under 10% busy
/// over half a second. Filling pools leaves the kernel work to do for a while
/// (memory cgroups of earlier sandboxes going offline, each walking every
/// superblock's LRU lists), which a measurement must not include. The seconds
/// it waited.
double await_quiet_machine(std::chrono::seconds limit);

/// Waits (bounded) until the node has at least `n` sandboxes.
void await_sandboxes(const test::node_process& node, size_t n, std::chrono::seconds limit);

/// A burst of invocations released at the same instant.
struct burst_result {
  int failed = 0; ///< answers other than 200
  std::chrono::steady_clock::time_point released;
  double seconds = 0; ///< from the release to the last answer
};

/// POSTs `body` to each of `targets` through `port`, one connection each, all
/// connected first and released together (`at_release` runs just before).
burst_result burst(uint16_t port, const std::vector<std::string>& targets, const std::string& body,
                   const std::function<void()>& at_release = {});

/// One stretch of an open-loop load: requests sent at `rate_per_s`, evenly
/// spaced, whatever the answers, for `seconds`.
struct load_phase {
  double rate_per_s = 0;
  double seconds = 0;
};

/// One request of an open-loop load.
struct load_sample {
  double sent_s = 0; ///< when it was due, from the load's start
  int status = 0;    ///< 0: no answer (the connection failed or timed out)
  double us = 0;     ///< from when it was due to its answer (a late start counts)
};

/// Sends `body` to `targets` (in turn) through `port` at the phases' rates, one after
/// the other, from `workers` threads each with its own keep-alive connection
/// (enough that none is late). Latency counts from when a request was due, so
/// a generator that falls behind does not hide it (no coordinated omission).
std::vector<load_sample> open_loop(uint16_t port, const std::vector<std::string>& targets,
                                   const std::string& body, const std::vector<load_phase>& phases,
                                   int workers);

/// Resident memory of process `pid`, in kB (0 if it is gone).
long rss_kb(pid_t pid);

/// The resilience benchmarks (tests/bench/resilience_bench.cpp).
void resilience_benches(double overload_s);

/// The cluster benchmarks (tests/bench/cluster_bench.cpp).
void cluster_benches(int trials);

/// Code packages: cold starts of a new function on a host that must fetch
/// what it reads (1 MB handler, with 0 or 100 MB it never reads), and three
/// hosts starting one new function at once (bytes from origin vs peers).
void package_benches(int trials);

/// The egress benchmarks (tests/bench/cluster_bench.cpp): `trials` cold
/// instances' first outbound connections, streams, connections held.
void egress_benches(int trials);

} // namespace troupe::bench
