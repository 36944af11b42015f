#include "net/log.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace troupe::net::log {

namespace {

constexpr std::size_t batch_bytes = 64 * 1024;
constexpr auto batch_interval = std::chrono::milliseconds(20);

/// The logger's state: never destroyed, so records made while the process
/// ends (static destructors, other threads) still find it.
struct sink {
  std::mutex mu;       ///< guards `batched`, `cfg` and the writer's start
  std::mutex write_mu; ///< one writer at a time: records keep their order
  std::condition_variable wake;
  settings cfg;
  std::string batched;
  bool writer_started = false;

  void write_out(const std::string& text) {
    const char* p = text.data();
    auto left = text.size();
    while (left > 0) {
      auto n = ::write(cfg.fd, p, left);
      if (n <= 0)
        return; // nowhere to log to: nothing better to do
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  /// Writes what is batched, then `line`: outside `mu`, so a slow reader
  /// of the log stalls no thread that only batches a record.
  void drain(const std::string& line = {}) {
    std::lock_guard<std::mutex> writing{write_mu};
    std::string out;
    {
      std::lock_guard<std::mutex> lock{mu};
      out.swap(batched);
    }
    out += line;
    if (!out.empty())
      write_out(out);
  }

  void writer() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock{mu};
        wake.wait(lock, [&] { return !batched.empty(); });
        wake.wait_for(lock, batch_interval, [&] { return batched.size() >= batch_bytes; });
      }
      drain();
    }
  }
};

sink& the_sink() {
  static sink* s = [] {
    auto* made = new sink;
    made->cfg.program = "troupe";
    std::atexit([] { flush(); });
    return made;
  }();
  return *s;
}

level min_level = level::info; ///< read without the lock: set before threads start

/// Now in UTC as ISO 8601 with milliseconds; the date and time of the
/// second are formatted once per second and thread.
std::string utc_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  thread_local std::time_t cached_sec = -1;
  thread_local char cached[24];
  if (secs != cached_sec) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_sec = secs;
  }
  std::string out{cached};
  out += char('0' + ms / 100);
  out += char('0' + ms / 10 % 10);
  out += char('0' + ms % 10);
  out += 'Z';
  return out;
}

/// A number with three decimals, as JSON writes it (null if not finite).
std::string number(double v) {
  if (!std::isfinite(v))
    return "null";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  return ec == std::errc{} ? std::string(buf, end) : "null";
}

} // namespace

std::optional<level> parse_level(std::string_view s) {
  for (auto l : {level::debug, level::info, level::warn, level::error})
    if (s == to_string(l))
      return l;
  return std::nullopt;
}

const char* to_string(level l) {
  switch (l) {
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warn:
    return "warn";
  case level::error:
    break;
  }
  return "error";
}

void configure(settings s) {
  auto& k = the_sink();
  k.drain();
  std::lock_guard<std::mutex> lock{k.mu};
  min_level = s.min;
  k.cfg = std::move(s);
}

bool enabled(level l) {
  return l >= min_level;
}

record::record(level l, std::string_view event, std::string_view message)
    : level_(l), on_(enabled(l)) {
  if (!on_)
    return;
  const auto& cfg = the_sink().cfg; // fixed once threads run
  if (cfg.json) {
    json_.begin_object().field("time", utc_now()).field("level", to_string(l));
    if (!cfg.node.empty())
      json_.field("node", cfg.node);
    json_.field("event", event).field("msg", message);
  } else {
    text_ = cfg.program + ": ";
    if (l != level::info)
      text_ += std::string{to_string(l)} + ": ";
    text_.append(message);
  }
}

record& record::field(std::string_view key, std::string_view v) {
  if (!on_)
    return *this;
  if (the_sink().cfg.json) {
    json_.field(key, v);
  } else {
    text_ += ' ';
    text_.append(key);
    text_ += '=';
    bool plain = !v.empty() && v.find_first_of(" \"=\n") == std::string_view::npos;
    if (plain)
      text_.append(v);
    else
      append_json_string(text_, v);
  }
  return *this;
}

record& record::field(std::string_view key, bool v) {
  if (on_ && the_sink().cfg.json) {
    json_.field(key, v);
    return *this;
  }
  return field(key, v ? "true" : "false");
}

record& record::field(std::string_view key, double v) {
  if (!on_)
    return *this;
  if (the_sink().cfg.json)
    json_.key(key).raw(number(v));
  else
    field(key, number(v));
  return *this;
}

record& record::integer(std::string_view key, int64_t v) {
  if (!on_)
    return *this;
  if (the_sink().cfg.json)
    json_.key(key).integer(v);
  else
    field(key, std::to_string(v));
  return *this;
}

record::~record() {
  if (!on_)
    return;
  auto& k = the_sink();
  std::string line = k.cfg.json ? json_.end_object().take() : std::move(text_);
  line += '\n';
  if (level_ >= level::warn) { // at once, after what came before it
    k.drain(line);
    return;
  }
  std::lock_guard<std::mutex> lock{k.mu};
  bool first = k.batched.empty();
  k.batched += line;
  if (!k.writer_started) {
    k.writer_started = true;
    std::thread{[&k] { k.writer(); }}.detach();
  }
  if (first || k.batched.size() >= batch_bytes)
    k.wake.notify_one();
}

void flush() {
  the_sink().drain();
}

} // namespace troupe::net::log
