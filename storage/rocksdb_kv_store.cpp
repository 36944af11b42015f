#include "storage/kv_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

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
    return text(db_->Put(sync_write_, slice(key), slice(value)));
  }

  std::string erase(std::string_view key) override {
    return text(db_->Delete(sync_write_, slice(key)));
  }

  std::string write(const std::vector<change>& changes, durability d) override {
    rocksdb::WriteBatch batch;
    for (const auto& c : changes) {
      auto s = c.value ? batch.Put(slice(c.key), slice(*c.value)) : batch.Delete(slice(c.key));
      if (!s.ok())
        return text(s);
    }
    return text(db_->Write(d == durability::synced ? sync_write_ : buffered_write_, &batch));
  }

  std::optional<std::string> get(std::string_view key) const override {
    std::string value;
    if (!db_->Get(rocksdb::ReadOptions(), slice(key), &value).ok())
      return std::nullopt;
    return value;
  }

  void scan(std::string_view prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
      auto key = view(it->key());
      if (key.substr(0, prefix.size()) != prefix || !fn(key, view(it->value())))
        break;
    }
  }

private:
  static std::string text(const rocksdb::Status& s) {
    return s.ok() ? std::string() : s.ToString();
  }

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions sync_write_;
  rocksdb::WriteOptions buffered_write_; ///< through the WAL, without flushing it
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
