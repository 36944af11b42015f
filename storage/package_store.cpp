#include "storage/package_store.hpp"

#include "storage/detail/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using detail::errno_text;
using detail::pread_all;
using detail::random_suffix;
using detail::unique_fd;
using detail::valid_hex;
using detail::write_all;

std::string read_whole(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
std::string write_atomically(const fs::path& path, std::string_view bytes) {
  auto tmp = path.string() + ".tmp";
  std::string err;
  {
    unique_fd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (!fd)
      return errno_text("cannot create " + tmp);
    if (!write_all(fd.get(), bytes))
      err = errno_text("cannot write " + tmp);
    else if (::fsync(fd.get()) != 0)
      err = errno_text("cannot sync " + tmp);
  }
  if (err.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    err = errno_text("cannot rename " + tmp);
  if (!err.empty())
    ::unlink(tmp.c_str());
  return err;
}

} // namespace

/// One package: its index, which chunks are in, and its content's open file
/// (kept by whoever reads it, so eviction never pulls it from under a read).
struct package_store::package {
  std::string digest;
  std::string encoded;
  std::shared_ptr<const package_index> index;
  std::vector<bool> have;
  uint64_t missing = 0;
  std::shared_ptr<unique_fd> content;
  int pins = 0;
  uint64_t last_use = 0;
};

package_store::package_store(fs::path root, uint64_t max_bytes)
    : root_(std::move(root)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(root_, ec); // a failure surfaces at the first write
  load();
}

package_store::~package_store() = default;

void package_store::load() {
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    auto ext = it->path().extension().string();
    auto stem = it->path().stem().string();
    std::error_code ignored;
    if (ext == ".part" || ext == ".tmp" || name.rfind(".tmp-build-", 0) == 0) {
      fs::remove_all(it->path(), ignored); // an interrupted fill or build
      continue;
    }
    if (ext != ".index" || !valid_hex(stem))
      continue;
    auto content = root_ / (stem + ".content");
    auto encoded = read_whole(it->path());
    auto index = decode_index(encoded);
    int fd = ::open(content.c_str(), O_RDONLY | O_CLOEXEC);
    if (!index || package_digest(encoded) != stem || fd < 0) {
      if (fd >= 0)
        ::close(fd);
      fs::remove(it->path(), ignored);
      fs::remove(content, ignored);
      continue;
    }
    auto p = std::make_shared<package>();
    p->digest = stem;
    p->encoded = std::move(encoded);
    p->have.assign(index->chunk_count(), true);
    p->index = std::make_shared<const package_index>(std::move(*index));
    p->content = std::make_shared<unique_fd>(fd);
    bytes_ += p->index->content_bytes;
    packages_.emplace(stem, std::move(p));
  }
  // Content whose index never got written (a crash while completing it).
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ignored;
    if (it->path().extension() == ".content" && !packages_.count(it->path().stem().string()))
      fs::remove(it->path(), ignored);
  }
}

built_package package_store::put_archive(std::string_view archive, const archive_limits& limits) {
  auto content_tmp = root_ / (".tmp-build-content-" + random_suffix());
  auto built = build_package(archive, content_tmp, limits);
  if (!built)
    return built;
  std::error_code ec;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = packages_.find(built.digest_hex);
      it != packages_.end() && it->second->missing == 0) {
    fs::remove(content_tmp, ec); // identical content: one package
    it->second->last_use = ++clock_;
    return built;
  }
  drop(built.digest_hex); // a partial copy gives way to the whole
  auto content = root_ / (built.digest_hex + ".content");
  auto index_path = root_ / (built.digest_hex + ".index");
  std::string err;
  if (std::rename(content_tmp.c_str(), content.c_str()) != 0)
    err = errno_text("cannot rename package content into place");
  else
    err = write_atomically(index_path, built.encoded_index); // the index makes it a package
  int fd = err.empty() ? ::open(content.c_str(), O_RDONLY | O_CLOEXEC) : -1;
  if (err.empty() && fd < 0)
    err = errno_text("cannot open " + content.string());
  if (!err.empty()) {
    fs::remove(content_tmp, ec);
    fs::remove(content, ec);
    fs::remove(index_path, ec);
    built.error = err;
    return built;
  }
  auto p = std::make_shared<package>();
  p->digest = built.digest_hex;
  p->encoded = built.encoded_index;
  p->index = std::make_shared<const package_index>(*decode_index(built.encoded_index));
  p->have.assign(p->index->chunk_count(), true);
  p->content = std::make_shared<unique_fd>(fd);
  p->last_use = ++clock_;
  make_room(p->index->content_bytes, built.digest_hex);
  bytes_ += p->index->content_bytes;
  packages_.emplace(built.digest_hex, std::move(p));
  return built;
}

std::string package_store::add_index(const std::string& digest_hex, std::string_view encoded) {
  if (!valid_hex(digest_hex))
    return "not a package digest: " + digest_hex.substr(0, 80);
  if (package_digest(encoded) != digest_hex)
    return "index does not match package " + digest_hex;
  std::string why;
  auto index = decode_index(encoded, &why);
  if (!index)
    return why;
  std::lock_guard<std::mutex> lock(mu_);
  if (packages_.count(digest_hex))
    return {};
  auto part = root_ / (digest_hex + ".part");
  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno_text("cannot create " + part.string());
  if (::ftruncate(fd, static_cast<off_t>(index->content_bytes)) != 0) {
    auto err = errno_text("cannot size " + part.string());
    ::close(fd);
    ::unlink(part.c_str());
    return err;
  }
  auto p = std::make_shared<package>();
  p->digest = digest_hex;
  p->encoded = std::string{encoded};
  p->have.assign(index->chunk_count(), false);
  p->missing = index->chunk_count();
  p->index = std::make_shared<const package_index>(std::move(*index));
  p->content = std::make_shared<unique_fd>(fd);
  p->last_use = ++clock_;
  make_room(p->index->content_bytes, digest_hex);
  bytes_ += p->index->content_bytes;
  packages_.emplace(digest_hex, p);
  if (p->missing == 0) { // no content at all: complete at once
    auto err = write_atomically(root_ / (digest_hex + ".index"), p->encoded);
    std::error_code ec;
    fs::rename(part, root_ / (digest_hex + ".content"), ec);
    return err.empty() && ec ? "cannot complete " + digest_hex + ": " + ec.message() : err;
  }
  return {};
}

std::string package_store::put_chunk(const std::string& digest_hex, uint64_t i,
                                     std::string_view bytes) {
  auto p = find(digest_hex);
  if (!p)
    return "unknown package " + digest_hex;
  const auto& index = *p->index;
  if (i >= index.chunk_count())
    return "chunk " + std::to_string(i) + " out of range";
  if (bytes.size() != index.chunk_length(i))
    return "chunk " + std::to_string(i) + " has " + std::to_string(bytes.size()) + " bytes, not " +
           std::to_string(index.chunk_length(i));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (p->have[i])
      return {};
  }
  if (sha256(bytes) != index.chunks[i])
    return "chunk " + std::to_string(i) + " of " + digest_hex + " is corrupt (digest mismatch)";
  if (!write_all(p->content->get(), bytes, static_cast<int64_t>(i * index.chunk_bytes)))
    return errno_text("cannot write chunk of " + digest_hex);
  std::lock_guard<std::mutex> lock(mu_);
  if (p->have[i])
    return {};
  p->have[i] = true;
  if (--p->missing > 0)
    return {};
  // Complete: synced, then it becomes content and its index is written.
  if (::fdatasync(p->content->get()) != 0)
    return errno_text("cannot sync " + digest_hex);
  std::error_code ec;
  auto content = root_ / (digest_hex + ".content");
  fs::rename(root_ / (digest_hex + ".part"), content, ec);
  if (ec)
    return "cannot complete " + digest_hex + ": " + ec.message();
  return write_atomically(root_ / (digest_hex + ".index"), p->encoded);
}

std::shared_ptr<package_store::package> package_store::find(const std::string& digest_hex) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = packages_.find(digest_hex);
  if (it == packages_.end())
    return nullptr;
  it->second->last_use = ++clock_;
  return it->second;
}

std::shared_ptr<const package_index> package_store::index(const std::string& digest_hex) const {
  auto p = find(digest_hex);
  return p ? p->index : nullptr;
}

std::optional<std::string> package_store::encoded_index(const std::string& digest_hex) const {
  auto p = find(digest_hex);
  if (!p)
    return std::nullopt;
  return p->encoded;
}

bool package_store::contains(const std::string& digest_hex) const {
  std::lock_guard<std::mutex> lock(mu_);
  return packages_.count(digest_hex) > 0;
}

bool package_store::complete(const std::string& digest_hex) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = packages_.find(digest_hex);
  return it != packages_.end() && it->second->missing == 0;
}

std::vector<uint64_t> package_store::missing(const std::string& digest_hex, uint64_t offset,
                                             uint64_t length) const {
  std::vector<uint64_t> out;
  auto p = find(digest_hex);
  if (!p || length == 0)
    return out;
  const auto& index = *p->index;
  auto end = std::min(index.content_bytes, offset + length);
  if (offset >= end)
    return out;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t i = offset / index.chunk_bytes; i * index.chunk_bytes < end; ++i)
    if (!p->have[i])
      out.push_back(i);
  return out;
}

bool package_store::read_into(const std::string& digest_hex, uint64_t offset, uint64_t length,
                              char* out) const {
  auto p = find(digest_hex);
  if (!p || offset > p->index->content_bytes || length > p->index->content_bytes - offset)
    return false;
  std::shared_ptr<unique_fd> content;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto& index = *p->index;
    for (uint64_t i = offset / index.chunk_bytes; i * index.chunk_bytes < offset + length; ++i)
      if (!p->have[i])
        return false;
    content = p->content;
  }
  return length == 0 || pread_all(content->get(), out, length, offset);
}

std::optional<std::string> package_store::read(const std::string& digest_hex, uint64_t offset,
                                               uint64_t length) const {
  std::string out(length, '\0');
  if (!read_into(digest_hex, offset, length, out.data()))
    return std::nullopt;
  return out;
}

std::string package_store::materialize(const std::string& digest_hex, const fs::path& dest) const {
  auto p = find(digest_hex);
  std::shared_ptr<unique_fd> content;
  if (p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (p->missing == 0)
      content = p->content;
  }
  if (!content)
    return "package " + digest_hex + " is not complete here";
  std::string buffer;
  for (const auto& e : p->index->entries) {
    auto path = dest / e.path;
    std::error_code ec;
    switch (e.type) {
    case package_entry::kind::directory:
      fs::create_directory(path, ec);
      if (ec)
        return "cannot create " + path.string() + ": " + ec.message();
      fs::permissions(path, fs::perms(e.mode), ec);
      break;
    case package_entry::kind::symlink:
      fs::create_symlink(e.target, path, ec);
      if (ec)
        return "cannot create " + path.string() + ": " + ec.message();
      break;
    case package_entry::kind::file: {
      buffer.resize(e.size);
      if (!pread_all(content->get(), buffer.data(), e.size, e.offset))
        return "cannot read " + e.path + " of " + digest_hex;
      unique_fd fd{
          ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.mode)};
      if (!fd)
        return errno_text("cannot create " + path.string());
      if (!write_all(fd.get(), buffer) || ::fchmod(fd.get(), e.mode) != 0)
        return errno_text("cannot write " + path.string());
      break;
    }
    }
  }
  return {};
}

void package_store::pin(const std::string& digest_hex) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = packages_.find(digest_hex); it != packages_.end())
    ++it->second->pins;
}

void package_store::unpin(const std::string& digest_hex) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = packages_.find(digest_hex); it != packages_.end() && it->second->pins > 0)
    --it->second->pins;
  make_room(0, {});
}

void package_store::make_room(uint64_t extra, const std::string& keep) {
  if (max_bytes_ == 0)
    return;
  while (bytes_ + extra > max_bytes_) {
    std::shared_ptr<package> oldest;
    for (auto& [digest, p] : packages_)
      if (p->pins == 0 && digest != keep && (!oldest || p->last_use < oldest->last_use))
        oldest = p;
    if (!oldest)
      return; // everything left is in use
    drop(oldest->digest);
    ++evictions_;
  }
}

void package_store::drop(const std::string& digest_hex) {
  auto it = packages_.find(digest_hex);
  if (it == packages_.end())
    return;
  bytes_ -= it->second->index->content_bytes;
  packages_.erase(it);
  std::error_code ec; // open readers keep their file until they let it go
  fs::remove(root_ / (digest_hex + ".index"), ec);
  fs::remove(root_ / (digest_hex + ".content"), ec);
  fs::remove(root_ / (digest_hex + ".part"), ec);
}

std::vector<std::string> package_store::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto& [digest, _] : packages_)
    out.push_back(digest);
  return out;
}

uint64_t package_store::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

uint64_t package_store::evictions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}

// --- the cache ----------------------------------------------------------------

package_cache::package_cache(package_store& store, package_fetcher& fetcher, int max_attempts,
                             std::chrono::milliseconds read_timeout)
    : store_(store), fetcher_(fetcher), max_attempts_(std::max(1, max_attempts)),
      read_timeout_(read_timeout) {}

package_cache::~package_cache() = default;

void package_cache::prepare(const std::string& digest_hex, bool whole,
                            std::function<void(std::string)> done) {
  auto fill = [this, digest_hex, whole, done](std::string error) {
    if (!error.empty() || !whole)
      return done(std::move(error));
    auto index = store_.index(digest_hex);
    if (!index)
      return done("package " + digest_hex + " went away");
    auto wanted = store_.missing(digest_hex, 0, index->content_bytes);
    if (wanted.empty())
      return done({});
    struct tally {
      std::mutex mu;
      std::size_t left;
      std::string first_error;
    };
    auto t = std::make_shared<tally>();
    t->left = wanted.size();
    for (auto i : wanted)
      want_chunk(digest_hex, i, [t, done](std::string err) {
        std::unique_lock<std::mutex> lock(t->mu);
        if (!err.empty() && t->first_error.empty())
          t->first_error = std::move(err);
        if (--t->left > 0)
          return;
        auto result = t->first_error;
        lock.unlock();
        done(std::move(result));
      });
  };
  if (store_.contains(digest_hex))
    return fill({});
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& waiting = index_waiters_[digest_hex];
    waiting.push_back(std::move(fill));
    if (waiting.size() > 1)
      return; // already on its way
  }
  fetcher_.fetch_index(digest_hex, [this, digest_hex](std::string bytes, std::string error) {
    if (error.empty())
      error = store_.add_index(digest_hex, bytes);
    std::vector<std::function<void(std::string)>> waiting;
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting = std::move(index_waiters_[digest_hex]);
      index_waiters_.erase(digest_hex);
    }
    for (auto& then : waiting)
      then(error.empty() ? error : "index of " + digest_hex + ": " + error);
  });
}

void package_cache::want_chunk(const std::string& digest_hex, uint64_t i,
                               std::function<void(std::string)> then) {
  auto index = store_.index(digest_hex);
  if (!index)
    return then("package " + digest_hex + " is not on this node");
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& waiting = in_flight_[{digest_hex, i}];
    waiting.push_back(std::move(then));
    if (waiting.size() > 1)
      return; // one fetch per chunk
  }
  if (store_.missing(digest_hex, i * index->chunk_bytes, 1).empty())
    return finish(digest_hex, i, {}); // it arrived meanwhile
  fetch(digest_hex, i, 0);
}

void package_cache::fetch(const std::string& digest_hex, uint64_t i, int attempt) {
  fetcher_.fetch_chunk(digest_hex, i, attempt,
                       [this, digest_hex, i, attempt](std::string bytes, std::string error) {
                         chunk_done(digest_hex, i, attempt, std::move(bytes), std::move(error));
                       });
}

void package_cache::chunk_done(const std::string& digest_hex, uint64_t i, int attempt,
                               std::string bytes, std::string error) {
  if (error.empty()) {
    error = store_.put_chunk(digest_hex, i, bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (error.empty()) {
      ++stats_.chunks_fetched;
      stats_.bytes_fetched += bytes.size();
    } else {
      ++stats_.corrupt_chunks;
    }
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.failed_fetches;
  }
  if (!error.empty() && attempt + 1 < max_attempts_)
    return fetch(digest_hex, i, attempt + 1); // from another source, if the fetcher has one
  finish(digest_hex, i, error);
}

void package_cache::finish(const std::string& digest_hex, uint64_t i, const std::string& error) {
  std::vector<std::function<void(std::string)>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = in_flight_.find({digest_hex, i});
    if (it == in_flight_.end())
      return;
    waiting = std::move(it->second);
    in_flight_.erase(it);
  }
  for (auto& then : waiting)
    then(error);
}

std::shared_ptr<const package_index> package_cache::index(const std::string& digest_hex) {
  return store_.index(digest_hex);
}

std::vector<std::string> package_cache::packages() {
  return store_.list();
}

int package_cache::read(const std::string& digest_hex, uint64_t offset, std::size_t length,
                        char* out) {
  auto wanted = store_.missing(digest_hex, offset, length);
  if (!wanted.empty()) {
    struct wait_state {
      std::mutex mu;
      std::condition_variable cv;
      std::size_t left;
      bool failed = false;
    };
    auto w = std::make_shared<wait_state>();
    w->left = wanted.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.reads_waiting;
    }
    for (auto i : wanted)
      want_chunk(digest_hex, i, [w](std::string err) {
        std::lock_guard<std::mutex> lock(w->mu);
        w->failed |= !err.empty();
        --w->left;
        w->cv.notify_all();
      });
    std::unique_lock<std::mutex> lock(w->mu);
    if (!w->cv.wait_for(lock, read_timeout_, [&] { return w->left == 0; }) || w->failed)
      return EIO;
  }
  return store_.read_into(digest_hex, offset, length, out) ? 0 : EIO;
}

package_cache::counters package_cache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

} // namespace troupe::storage
