#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace troupe::storage {

/// The recent invocation logs of each function on this node, one file a
/// function (`<dir>/<tenant>.<name>.log`, from the function id
/// "tenant/name"), bounded: once the file passes half of `max_bytes` it
/// becomes `.log.1` (replacing the one before) and a new one begins, so a
/// function keeps between half and all of `max_bytes` of its latest records.
///
/// append() only queues the record: a thread of the store's own writes it,
/// so the caller (an actor) never waits on the file system (creating a
/// function's first file costs an inode). The writer gathers what arrives
/// within `linger` of the first record (or until 64 KiB wait) and writes it
/// in one go, so a steady stream of invocations wakes it once per linger,
/// not once per record. The files of the functions written most recently
/// stay open (at most `max_open`).
/// Contract: a record is written whole, in one write (perhaps with others
/// of its function); a function's records stay in order; tail() sees every
/// record appended before it was called, without waiting for the linger; a
/// record that cannot be written, or that finds `max_pending` bytes already
/// queued, is lost, never the caller's work. Thread-safe.
class log_store {
public:
  log_store(std::filesystem::path dir, uint64_t max_bytes, std::size_t max_open = 64,
            std::size_t max_pending = 16 << 20,
            std::chrono::milliseconds linger = std::chrono::milliseconds(50));
  ~log_store(); ///< writes what is queued, then stops
  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;

  void append(const std::string& function_id, std::string record);
  /// The latest `max_bytes` at most of the function's log, from the start of
  /// a line; "" if it has none.
  std::string tail(const std::string& function_id, std::size_t max_bytes);
  /// Records lost so far (the queue was full, or a write failed).
  uint64_t dropped() const;

private:
  struct open_file {
    int fd = -1;
    uint64_t size = 0;
    uint64_t last_use = 0;
  };
  struct pending {
    std::string function_id;
    std::string record;
  };

  std::filesystem::path file_of(const std::string& function_id) const;
  void write_loop();
  /// Writes a function's records, in order, in as few writes as the bound
  /// lets (on the writer thread, holding files_mu_).
  void write_records(const std::string& function_id,
                     const std::vector<const std::string*>& records);
  /// The function's open file, opening it (and closing the least recently
  /// used one beyond max_open); nullptr if it cannot be opened.
  open_file* file_for(const std::string& function_id, const std::filesystem::path& path);

  std::filesystem::path dir_;
  uint64_t max_bytes_;
  std::size_t max_open_;
  std::size_t max_pending_;
  std::chrono::milliseconds linger_;

  mutable std::mutex mu_; ///< the queue and its counters
  std::condition_variable wake_, written_;
  std::deque<pending> queue_;
  std::size_t pending_bytes_ = 0;
  uint64_t queued_ = 0; ///< records accepted so far
  uint64_t done_ = 0;   ///< of those, written (or lost) so far
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  bool flush_ = false; ///< tail() waits: write without lingering

  std::mutex files_mu_;                   ///< the files (writer thread and tail())
  std::map<std::string, open_file> open_; ///< by function id
  uint64_t uses_ = 0;

  std::thread writer_; ///< last: starts once everything above exists
};

} // namespace troupe::storage
