#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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
/// Thread-safe. The files of the functions written most recently stay open
/// (at most `max_open`): an append is then one write.
class log_store {
public:
  log_store(std::filesystem::path dir, uint64_t max_bytes, std::size_t max_open = 64);
  ~log_store();
  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;

  void append(const std::string& function_id, std::string_view record);
  /// The latest `max_bytes` at most of the function's log, from the start of
  /// a line; "" if it has none.
  std::string tail(const std::string& function_id, std::size_t max_bytes) const;

  const std::filesystem::path& dir() const { return dir_; }

private:
  std::filesystem::path file_of(const std::string& function_id) const;

  struct open_file {
    int fd = -1;
    uint64_t size = 0;
    uint64_t last_use = 0;
  };
  /// The function's open file, opening it (and closing the least recently
  /// used one beyond max_open); nullptr if it cannot be opened. Holds mu_.
  open_file* file_for(const std::string& function_id, const std::filesystem::path& path);

  std::filesystem::path dir_;
  uint64_t max_bytes_;
  std::size_t max_open_;
  mutable std::mutex mu_;
  std::map<std::string, open_file> open_; ///< by function id
  uint64_t uses_ = 0;
};

} // namespace troupe::storage
