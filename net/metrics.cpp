#include "net/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <unistd.h>

namespace troupe::net::metrics {

namespace {

void add_to(std::atomic<double>& a, double n) {
  auto old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + n, std::memory_order_relaxed))
    ;
}

/// A sample value as Prometheus reads it: integers without a fraction, +Inf.
std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v))
    return "NaN";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void escape_into(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
}

/// The labels with one more appended (a histogram's `le`).
std::string labels_with(const labels& l, const std::string& name, const std::string& value) {
  auto all = l;
  all.emplace_back(name, value);
  return render_labels(all);
}

} // namespace

void counter::add(double n) {
  if (n > 0)
    add_to(value_, n);
}

void counter::raise_to(double total) {
  auto old = value_.load(std::memory_order_relaxed);
  while (total > old && !value_.compare_exchange_weak(old, total, std::memory_order_relaxed))
    ;
}

void gauge::add(double n) {
  add_to(value_, n);
}

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) {
  auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[static_cast<size_t>(at)].fetch_add(1, std::memory_order_relaxed);
  add_to(sum_, v);
}

std::vector<uint64_t> histogram::counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                     5,      10,      30,     60,    300,    900};
  return b;
}

std::string render_labels(const labels& l) {
  if (l.empty())
    return {};
  std::string out = "{";
  for (size_t i = 0; i < l.size(); ++i) {
    if (i > 0)
      out += ',';
    out += l[i].first;
    out += "=\"";
    escape_into(out, l[i].second, true);
    out += '"';
  }
  out += '}';
  return out;
}

template <class T, class Make>
T& registry::get(kind k, const std::string& name, std::string_view help, const labels& l,
                 Make make) {
  std::lock_guard<std::mutex> guard{mu_};
  auto [it, fresh] = families_.try_emplace(name);
  auto& f = it->second;
  if (fresh) {
    f.k = k;
    f.help = std::string{help};
    for (const auto& [n, v] : l)
      f.label_names.push_back(n);
  } else {
    bool same_names = f.label_names.size() == l.size() &&
                      std::equal(l.begin(), l.end(), f.label_names.begin(),
                                 [](const auto& a, const std::string& b) { return a.first == b; });
    if (f.k != k || !same_names)
      throw std::logic_error("metric " + name + " used with another kind or other labels");
  }
  auto key = render_labels(l);
  auto s = f.series.find(key);
  if (s == f.series.end())
    s = f.series.emplace(std::move(key), std::make_pair(l, std::shared_ptr<void>{make()})).first;
  return *static_cast<T*>(s->second.second.get());
}

counter& registry::get_counter(const std::string& name, std::string_view help, const labels& l) {
  return get<counter>(kind::counter, name, help, l, [] { return std::make_shared<counter>(); });
}

gauge& registry::get_gauge(const std::string& name, std::string_view help, const labels& l) {
  return get<gauge>(kind::gauge, name, help, l, [] { return std::make_shared<gauge>(); });
}

histogram& registry::get_histogram(const std::string& name, std::string_view help, const labels& l,
                                   const std::vector<double>& bounds) {
  return get<histogram>(kind::histogram, name, help, l,
                        [&] { return std::make_shared<histogram>(bounds); });
}

void registry::on_render(std::function<void(registry&)> refresh) {
  std::lock_guard<std::mutex> guard{mu_};
  refreshers_.push_back(std::move(refresh));
}

std::string registry::render() {
  std::vector<std::function<void(registry&)>> refreshers;
  {
    std::lock_guard<std::mutex> guard{mu_};
    refreshers = refreshers_;
  }
  for (auto& r : refreshers)
    r(*this);
  std::lock_guard<std::mutex> guard{mu_};
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " ";
    escape_into(out, f.help, false);
    out += "\n# TYPE " + name + " " +
           (f.k == kind::counter ? "counter"
            : f.k == kind::gauge ? "gauge"
                                 : "histogram") +
           "\n";
    for (const auto& [key, s] : f.series) {
      const auto& [l, p] = s;
      if (f.k == kind::counter) {
        out += name + key + " " + number(static_cast<counter*>(p.get())->value()) + "\n";
      } else if (f.k == kind::gauge) {
        out += name + key + " " + number(static_cast<gauge*>(p.get())->value()) + "\n";
      } else {
        auto* h = static_cast<histogram*>(p.get());
        auto counts = h->counts();
        uint64_t total = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          total += counts[i];
          auto le = i < h->bounds().size() ? number(h->bounds()[i]) : std::string{"+Inf"};
          out += name + "_bucket" + labels_with(l, "le", le) + " " + number(double(total)) + "\n";
        }
        out += name + "_sum" + key + " " + number(h->sum()) + "\n";
        out += name + "_count" + key + " " + number(double(total)) + "\n";
      }
    }
  }
  return out;
}

registry& registry::node() {
  static registry r;
  return r;
}

void add_process_metrics(registry& r) {
  auto& cpu =
      r.get_counter("process_cpu_seconds_total", "User and system CPU time the process spent");
  auto& rss = r.get_gauge("process_resident_memory_bytes", "Resident memory size in bytes");
  auto& vsz = r.get_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes");
  auto& fds = r.get_gauge("process_open_fds", "Open file descriptors");
  auto& max_fds = r.get_gauge("process_max_fds", "The limit of open file descriptors");
  auto& threads = r.get_gauge("process_threads", "Threads of the process");
  auto& start = r.get_gauge("process_start_time_seconds",
                            "When the process started, in seconds since the Unix epoch");
  // Start time: /proc/self/stat's field 22 (clock ticks after boot) plus the boot time.
  {
    std::ifstream stat{"/proc/self/stat"};
    std::string s{std::istreambuf_iterator<char>(stat), {}};
    std::ifstream st{"/proc/stat"};
    std::string line;
    double btime = 0;
    while (std::getline(st, line))
      if (line.rfind("btime ", 0) == 0)
        btime = std::stod(line.substr(6));
    auto close = s.rfind(')');
    if (close != std::string::npos) {
      std::istringstream in{s.substr(close + 2)};
      std::string field;
      for (int i = 3; i <= 22 && in >> field; ++i)
        if (i == 22)
          start.set(btime + std::stod(field) / double(sysconf(_SC_CLK_TCK)));
    }
  }
  r.on_render([&cpu, &rss, &vsz, &fds, &max_fds, &threads](registry&) {
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) == 0)
      cpu.raise_to(double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                   double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6);
    std::ifstream status{"/proc/self/status"};
    std::string line;
    while (std::getline(status, line)) {
      auto kb = [&](const char* key) {
        return line.rfind(key, 0) == 0 ? std::stod(line.substr(std::string_view{key}.size())) * 1024
                                       : -1.0;
      };
      if (auto v = kb("VmRSS:"); v >= 0)
        rss.set(v);
      else if (auto v = kb("VmSize:"); v >= 0)
        vsz.set(v);
      else if (line.rfind("Threads:", 0) == 0)
        threads.set(std::stod(line.substr(8)));
    }
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (auto* e = readdir(d))
        n += e->d_name[0] != '.';
      closedir(d);
    }
    fds.set(n - 1); // less the directory's own descriptor
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
      max_fds.set(double(lim.rlim_cur));
  });
}

} // namespace troupe::net::metrics
