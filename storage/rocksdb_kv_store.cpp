#include "storage/kv_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>

namespace troupe::storage {
namespace {

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

std::string_view view(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

/// kv_store over one RocksDB database. Writes go through the WAL with sync, so
/// a returned "" means the write is on disk; RocksDB itself is thread-safe.
class rocksdb_kv_store final : public kv_store {
public:
  explicit rocksdb_kv_store(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {
    sync_write_.sync = true;
  }

  ~rocksdb_kv_store() override { db_->Close(); }

  std::string put(std::string_view key, std::string_view value) override {
    return counted(db_->Put(sync_write_, slice(key), slice(value)), true);
  }

  std::string erase(std::string_view key) override {
    return counted(db_->Delete(sync_write_, slice(key)), true);
  }

  std::string write(const std::vector<change>& changes, durability d) override {
    rocksdb::WriteBatch batch;
    for (const auto& c : changes) {
      auto s = c.value ? batch.Put(slice(c.key), slice(*c.value)) : batch.Delete(slice(c.key));
      if (!s.ok())
        return text(s);
    }
    bool synced = d == durability::synced;
    return counted(db_->Write(synced ? sync_write_ : buffered_write_, &batch), synced);
  }

  std::optional<std::string> get(std::string_view key) const override {
    reads_.fetch_add(1, std::memory_order_relaxed);
    std::string value;
    if (!db_->Get(rocksdb::ReadOptions(), slice(key), &value).ok())
      return std::nullopt;
    return value;
  }

  void scan(std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    reads_.fetch_add(1, std::memory_order_relaxed);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
      auto key = view(it->key());
      if (key.substr(0, prefix.size()) != prefix || !fn(key, view(it->value())))
        break;
    }
  }

  stats statistics() const override {
    stats out;
    out.writes = writes_.load(std::memory_order_relaxed);
    out.synced_writes = synced_writes_.load(std::memory_order_relaxed);
    out.write_errors = write_errors_.load(std::memory_order_relaxed);
    out.reads = reads_.load(std::memory_order_relaxed);
    auto property = [&](const char* name) {
      uint64_t v = 0;
      return db_->GetIntProperty(name, &v) ? v : 0;
    };
    out.keys_estimate = property("rocksdb.estimate-num-keys");
    out.sst_bytes = property("rocksdb.total-sst-files-size");
    out.memtable_bytes = property("rocksdb.cur-size-all-mem-tables");
    out.compactions_running = property("rocksdb.num-running-compactions");
    out.background_errors = property("rocksdb.background-errors");
    return out;
  }

private:
  static std::string text(const rocksdb::Status& s) {
    return s.ok() ? std::string() : s.ToString();
  }

  std::string counted(const rocksdb::Status& s, bool synced) {
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (synced)
      synced_writes_.fetch_add(1, std::memory_order_relaxed);
    if (!s.ok())
      write_errors_.fetch_add(1, std::memory_order_relaxed);
    return text(s);
  }

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions sync_write_;
  rocksdb::WriteOptions buffered_write_; ///< through the WAL, without flushing it
  std::atomic<uint64_t> writes_{0}, synced_writes_{0}, write_errors_{0};
  mutable std::atomic<uint64_t> reads_{0};
};

} // namespace

std::unique_ptr<kv_store> open_rocksdb_store(const std::string& dir, std::string& error) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.keep_log_file_num = 4; // the store lives for the node's lifetime; keep LOG files few
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(options, dir, &raw);
  if (!status.ok()) {
    error = "cannot open RocksDB store in " + dir + ": " + status.ToString();
    return nullptr;
  }
  error.clear();
  return std::make_unique<rocksdb_kv_store>(std::unique_ptr<rocksdb::DB>(raw));
}

} // namespace troupe::storage
