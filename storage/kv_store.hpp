#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::storage {

/// How far a write must have gone before it returns.
enum class durability {
  synced,   ///< on disk (the WAL flushed): survives a power loss
  buffered, ///< in the WAL in the OS's page cache: survives SIGKILL, not a power loss
};

/// An ordered, durable key-value store (RocksDB underneath).
/// Contract: a write that returned "" is on disk (synchronous WAL write) and
/// survives SIGKILL of the process, unless it asked only for `buffered`;
/// reads see every completed write. Safe to use from several threads. All I/O
/// of Troupe's registry goes through it.
class kv_store {
public:
  virtual ~kv_store() = default;

  /// What the store has done and holds, for the node's metrics.
  struct stats {
    uint64_t writes = 0;        ///< puts, erases and batches written
    uint64_t synced_writes = 0; ///< of those, flushed to disk before they returned
    uint64_t write_errors = 0;
    uint64_t reads = 0;          ///< gets and scans
    uint64_t keys_estimate = 0;  ///< the engine's estimate of the keys it holds
    uint64_t sst_bytes = 0;      ///< table files on disk
    uint64_t memtable_bytes = 0; ///< not yet flushed to table files
    uint64_t compactions_running = 0;
    uint64_t background_errors = 0;
  };
  virtual stats statistics() const = 0;

  /// One change of a batch: a put, or an erase when `value` is empty.
  struct change {
    std::string key;
    std::optional<std::string> value;
  };

  /// Returns "" on success or an error text.
  virtual std::string put(std::string_view key, std::string_view value) = 0;
  virtual std::string erase(std::string_view key) = 0;
  /// Applies every change atomically with one write (a group commit: many
  /// changes for the price of one disk flush, or of none when `buffered`).
  virtual std::string write(const std::vector<change>& changes,
                            durability d = durability::synced) = 0;
  virtual std::optional<std::string> get(std::string_view key) const = 0;
  /// Calls `fn` for every key starting with `prefix`, in key order, until it returns false.
  virtual void
  scan(std::string_view prefix,
       const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;
};

/// Opens (creating if needed) a RocksDB database in `dir`. On failure returns
/// nullptr and sets `error`.
std::unique_ptr<kv_store> open_rocksdb_store(const std::string& dir, std::string& error);

} // namespace troupe::storage
