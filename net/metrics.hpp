#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::net::metrics {

/// Label names and values of one series, in the family's label order.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A count that only goes up. Lock-free: any thread may add.
class counter {
public:
  void add(double n = 1);
  /// For a count kept elsewhere (the kernel's, a store's): takes `total` if it is higher.
  void raise_to(double total);
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down, or is set. Lock-free.
class gauge {
public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double n);
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// One holder's part of a gauge that several holders add up to (the routers
/// of one function, say): set() moves the gauge by the difference, and the
/// part is taken back when the holder goes.
class gauge_share {
public:
  explicit gauge_share(gauge& g) : gauge_(&g) {}
  gauge_share(const gauge_share&) = delete;
  gauge_share& operator=(const gauge_share&) = delete;
  ~gauge_share() { gauge_->add(-mine_); }
  void set(double v) {
    if (v != mine_)
      gauge_->add(v - mine_);
    mine_ = v;
  }

private:
  gauge* gauge_;
  double mine_ = 0;
};

/// Observations counted into cumulative buckets (Prometheus' histogram:
/// `le` upper bounds, their sum and count). Lock-free: one atomic add to the
/// bucket the value falls into and one to the sum; buckets are made
/// cumulative, and the count summed, when rendered.
class histogram {
public:
  explicit histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  /// Counts per bucket (not cumulative), the last one over every bound.
  std::vector<uint64_t> counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

/// Bounds for latencies in seconds, from 100 µs to 15 minutes (Lambda's longest timeout).
const std::vector<double>& latency_buckets();

/// A node's metrics: families of counters, gauges and histograms, each
/// series found by its label values, rendered in Prometheus' text exposition
/// format (version 0.0.4). A series, once made, lives as long as the
/// registry, so callers may keep the reference it returns and update it
/// without a lookup. Thread-safe.
class registry {
public:
  /// The series of family `name` with `l` (made at the first call). A name
  /// used before with another kind or other label names throws std::logic_error.
  counter& get_counter(const std::string& name, std::string_view help, const labels& l = {});
  gauge& get_gauge(const std::string& name, std::string_view help, const labels& l = {});
  histogram& get_histogram(const std::string& name, std::string_view help, const labels& l = {},
                           const std::vector<double>& bounds = latency_buckets());

  /// `refresh` runs before every rendering (for values read at scrape time,
  /// such as a store's properties); it may set gauges and counters of this registry.
  void on_render(std::function<void(registry&)> refresh);

  /// Every series, families in name order; series in label order.
  std::string render();

  /// The process's registry, which /metrics serves.
  static registry& node();

private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind k;
    std::string help;
    std::vector<std::string> label_names;
    std::map<std::string, std::pair<labels, std::shared_ptr<void>>> series; ///< by rendered labels
  };
  template <class T, class Make>
  T& get(kind k, const std::string& name, std::string_view help, const labels& l, Make make);

  std::mutex mu_;
  std::map<std::string, family> families_;
  std::vector<std::function<void(registry&)>> refreshers_;
};

/// The labels rendered as Prometheus writes them: {a="x",b="y"} ("" for none),
/// values escaped (backslash, double quote, newline).
std::string render_labels(const labels& l);

/// Process figures as Prometheus' client libraries name them
/// (process_cpu_seconds_total, process_resident_memory_bytes,
/// process_open_fds, process_start_time_seconds, ...), read from /proc/self.
void add_process_metrics(registry& r);

} // namespace troupe::net::metrics
