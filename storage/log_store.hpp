#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

namespace troupe::storage {

/// The recent invocation logs of each function on this node, one file a
/// function (`<dir>/<tenant>.<name>.log`, from the function id
/// "tenant/name"), bounded: once the file passes half of `max_bytes` it
/// becomes `.log.1` (replacing the one before) and a new one begins, so a
/// function keeps between half and all of `max_bytes` of its latest records.
/// Contract: a record is written whole, in one append; a function's records
/// stay in order; a failed write loses that record, never the caller's work.
/// Thread-safe.
class log_store {
public:
  log_store(std::filesystem::path dir, uint64_t max_bytes);

  void append(const std::string& function_id, std::string_view record);
  /// The latest `max_bytes` at most of the function's log, from the start of
  /// a line; "" if it has none.
  std::string tail(const std::string& function_id, std::size_t max_bytes) const;

  const std::filesystem::path& dir() const { return dir_; }

private:
  std::filesystem::path file_of(const std::string& function_id) const;

  std::filesystem::path dir_;
  uint64_t max_bytes_;
  mutable std::mutex mu_;
};

} // namespace troupe::storage
