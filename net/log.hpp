#pragma once

#include "net/json_writer.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace troupe::net::log {

enum class level { debug, info, warn, error };

/// "debug", "info", "warn" or "error" as a level; none for anything else.
std::optional<level> parse_level(std::string_view s);
const char* to_string(level l);

struct settings {
  level min = level::info;
  bool json = true;    ///< JSON lines; false: "<program>: <message> key=value ..." for people
  std::string program; ///< "troupe-node"
  std::string node;    ///< the node's name in every JSON record ("" leaves it out)
  int fd = 2;          ///< where records go
};

/// Sets where and what is written from now on; call before the node's
/// threads start. Records below `min` are not made at all.
void configure(settings s);
bool enabled(level l);

/// One record: made by info(), warn(), ..., filled by field(), written whole
/// (one line) when it goes out of scope. Warnings and errors are written at
/// once; debug and info records are written in batches by a thread of the
/// logger's (every 20 ms, or at 64 KiB), so a record on a hot path costs no
/// system call. Thread-safe; records of one thread keep their order.
///   log::info("host_joined", "host h1 joined").field("host", id).field("slots", 64);
class record {
public:
  record(level l, std::string_view event, std::string_view message);
  record(const record&) = delete;
  record& operator=(const record&) = delete;
  ~record();

  record& field(std::string_view key, std::string_view v);
  record& field(std::string_view key, const std::string& v) {
    return field(key, std::string_view{v});
  }
  record& field(std::string_view key, const char* v) { return field(key, std::string_view{v}); }
  record& field(std::string_view key, bool v);
  record& field(std::string_view key, double v);
  template <class T, class = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
  record& field(std::string_view key, T v) {
    return integer(key, static_cast<int64_t>(v));
  }

private:
  record& integer(std::string_view key, int64_t v);
  level level_;
  bool on_;
  json_writer json_; ///< the JSON form
  std::string text_; ///< the text form
};

inline record debug(std::string_view event, std::string_view message) {
  return {level::debug, event, message};
}
inline record info(std::string_view event, std::string_view message) {
  return {level::info, event, message};
}
inline record warn(std::string_view event, std::string_view message) {
  return {level::warn, event, message};
}
inline record error(std::string_view event, std::string_view message) {
  return {level::error, event, message};
}

/// Writes what is batched, now (before the process ends, or a test reads).
void flush();

} // namespace troupe::net::log
