#pragma once

#include "storage/package.hpp"
#include "storage/package_fs.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace troupe::storage {

/// Packages in the two-file format under one directory: `<digest>.index`
/// and `<digest>.content` for a complete package, `<digest>.part` for
/// content still being filled chunk by chunk (a sparse file of full size).
/// The origin builds packages from archives (put_archive); a cache adds an
/// index it fetched (add_index) and then chunks (put_chunk), each verified
/// against the index, and the part becomes the content once every chunk is
/// in (synced first). A restart keeps complete packages and drops parts.
/// Size bound: `max_bytes` of content (0: none). Adding a package evicts the
/// least recently used packages that nobody pins until the rest fits; a
/// pinned package is never evicted (pins may hold the store over its bound
/// until they go). Thread-safe.
class package_store {
public:
  package_store(std::filesystem::path root, uint64_t max_bytes = 0);
  ~package_store();
  package_store(const package_store&) = delete;
  package_store& operator=(const package_store&) = delete;

  /// Builds a package from an archive (build_package) and keeps it; an
  /// identical package already here is reused.
  built_package put_archive(std::string_view archive, const archive_limits& limits);

  /// Adds a fetched index (checked against `digest_hex`) with no content yet;
  /// "" when added or already here, else why not.
  std::string add_index(const std::string& digest_hex, std::string_view encoded);
  /// Stores chunk `i` of a package; "" when stored (or already held), else why
  /// not: unknown package, chunk out of range, wrong length or wrong digest.
  std::string put_chunk(const std::string& digest_hex, uint64_t i, std::string_view bytes);

  std::shared_ptr<const package_index> index(const std::string& digest_hex) const;
  std::optional<std::string> encoded_index(const std::string& digest_hex) const;
  bool contains(const std::string& digest_hex) const;
  bool complete(const std::string& digest_hex) const;
  /// The chunks of [offset, offset + length) not held yet (all of them when
  /// the package is unknown: then it is empty).
  std::vector<uint64_t> missing(const std::string& digest_hex, uint64_t offset,
                                uint64_t length) const;
  /// Content bytes [offset, offset + length) if every chunk under them is held.
  std::optional<std::string> read(const std::string& digest_hex, uint64_t offset,
                                  uint64_t length) const;
  /// As read(), into `out` (length bytes); false if not all held or I/O failed.
  bool read_into(const std::string& digest_hex, uint64_t offset, uint64_t length, char* out) const;
  /// Writes a complete package as a plain tree into `dest` (an empty
  /// directory): the fallback where no FUSE view can be mounted.
  std::string materialize(const std::string& digest_hex, const std::filesystem::path& dest) const;

  void pin(const std::string& digest_hex);
  void unpin(const std::string& digest_hex);
  std::vector<std::string> list() const;
  uint64_t bytes() const; ///< content bytes held (a part counts in full)
  uint64_t evictions() const;

private:
  struct package;
  std::shared_ptr<package> find(const std::string& digest_hex) const;
  void load();
  /// Evicts unpinned packages, least recently used first, until `extra`
  /// more bytes fit; `keep` is never evicted. Holding mu_.
  void make_room(uint64_t extra, const std::string& keep);
  void drop(const std::string& digest_hex); ///< holding mu_

  std::filesystem::path root_;
  uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<package>> packages_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
  mutable uint64_t clock_ = 0; ///< use order for LRU
};

/// Where a cache gets what it lacks. Each call answers exactly once, on any
/// thread, with the bytes or an error text. `attempt` counts from 0 for one
/// chunk, so a fetcher can pick another source after a failed or corrupt one.
class package_fetcher {
public:
  using done_fn = std::function<void(std::string bytes, std::string error)>;
  virtual ~package_fetcher() = default;
  virtual void fetch_index(const std::string& digest_hex, done_fn done) = 0;
  virtual void fetch_chunk(const std::string& digest_hex, uint64_t chunk, int attempt,
                           done_fn done) = 0;
};

/// A node's package cache: a package_store filled on demand through a
/// fetcher, one fetch per chunk however many readers wait for it. A chunk
/// that arrives corrupt (its digest does not match) is fetched again, up to
/// `max_attempts`; then its readers fail. It is the FUSE view's source.
class package_cache : public package_source {
public:
  package_cache(package_store& store, package_fetcher& fetcher, int max_attempts = 4,
                std::chrono::milliseconds read_timeout = std::chrono::seconds(30));
  ~package_cache() override;

  /// Makes the package's index local (and, with `whole`, all its content),
  /// then calls `done` once with "" or the error, on any thread.
  void prepare(const std::string& digest_hex, bool whole, std::function<void(std::string)> done);

  // package_source
  std::shared_ptr<const package_index> index(const std::string& digest_hex) override;
  std::vector<std::string> packages() override;
  int read(const std::string& digest_hex, uint64_t offset, std::size_t length, char* out) override;

  struct counters {
    uint64_t chunks_fetched = 0;
    uint64_t bytes_fetched = 0;
    uint64_t corrupt_chunks = 0;
    uint64_t failed_fetches = 0;
    uint64_t reads_waiting = 0; ///< reads that had to wait for a fetch
  };
  counters stats() const;

private:
  using key = std::pair<std::string, uint64_t>;
  /// Makes sure chunk `i` is on its way (fetching it unless already); calls
  /// `then` once it is stored ("") or failed for good.
  void want_chunk(const std::string& digest_hex, uint64_t i, std::function<void(std::string)> then);
  void fetch(const std::string& digest_hex, uint64_t i, int attempt);
  void chunk_done(const std::string& digest_hex, uint64_t i, int attempt, std::string bytes,
                  std::string error);
  /// Tells everyone waiting for chunk `i` how it went.
  void finish(const std::string& digest_hex, uint64_t i, const std::string& error);

  package_store& store_;
  package_fetcher& fetcher_;
  const int max_attempts_;
  const std::chrono::milliseconds read_timeout_;
  mutable std::mutex mu_;
  std::map<key, std::vector<std::function<void(std::string)>>> in_flight_;
  std::map<std::string, std::vector<std::function<void(std::string)>>> index_waiters_;
  counters stats_;
};

} // namespace troupe::storage
