#include "storage/log_store.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::storage {

namespace fs = std::filesystem;

namespace {

/// Queued bytes that make the writer stop lingering.
constexpr std::size_t batch_bytes = 64 << 10;

/// Up to `max` bytes from the end of `path`, put before what `out` holds.
void prepend_tail(const fs::path& path, std::size_t max, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && max > 0) {
    auto size = static_cast<std::size_t>(st.st_size);
    auto n = std::min(size, max);
    std::string buf(n, '\0');
    ssize_t got = ::pread(fd, buf.data(), n, static_cast<off_t>(size - n));
    if (got > 0) {
      buf.resize(static_cast<std::size_t>(got));
      out.insert(0, buf);
    }
  }
  ::close(fd);
}

} // namespace

log_store::log_store(fs::path dir, uint64_t max_bytes, std::size_t max_open,
                     std::size_t max_pending, std::chrono::milliseconds linger)
    : dir_(std::move(dir)), max_bytes_(max_bytes), max_open_(std::max<std::size_t>(1, max_open)),
      max_pending_(max_pending), linger_(linger) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  writer_ = std::thread([this] { write_loop(); });
}

log_store::~log_store() {
  {
    std::lock_guard lock{mu_};
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
  for (auto& [_, f] : open_)
    ::close(f.fd);
}

fs::path log_store::file_of(const std::string& function_id) const {
  auto name = function_id;
  if (auto slash = name.find('/'); slash != std::string::npos)
    name[slash] = '.';
  return dir_ / (name + ".log");
}

void log_store::append(const std::string& function_id, std::string record) {
  bool wake = false;
  {
    std::lock_guard lock{mu_};
    if (pending_bytes_ + record.size() > max_pending_) {
      ++dropped_;
      return;
    }
    // The writer waits for the first record, then lingers on its own;
    // waking it again only for a full batch.
    wake = queue_.empty() ||
           (pending_bytes_ < batch_bytes && pending_bytes_ + record.size() >= batch_bytes);
    pending_bytes_ += record.size();
    ++queued_;
    queue_.push_back({function_id, std::move(record)});
  }
  if (wake)
    wake_.notify_one();
}

void log_store::write_loop() {
  pthread_setname_np(pthread_self(), "troupe.logs"); // as perf and top show it
  std::unique_lock lock{mu_};
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty())
      return; // stopping, and everything is written
    wake_.wait_for(lock, linger_,
                   [&] { return stopping_ || flush_ || pending_bytes_ >= batch_bytes; });
    flush_ = false;
    auto batch = std::move(queue_);
    queue_.clear();
    lock.unlock();
    {
      // A function's records of the batch go out together, in order.
      std::lock_guard files{files_mu_};
      std::map<std::string, std::vector<const std::string*>> by_function;
      for (const auto& p : batch)
        by_function[p.function_id].push_back(&p.record);
      for (const auto& [function_id, records] : by_function)
        write_records(function_id, records);
    }
    lock.lock();
    for (const auto& p : batch)
      pending_bytes_ -= p.record.size();
    done_ += batch.size();
    written_.notify_all();
  }
}

log_store::open_file* log_store::file_for(const std::string& function_id, const fs::path& path) {
  auto it = open_.find(function_id);
  if (it == open_.end()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
      return nullptr;
    struct stat st {};
    open_file f{fd, ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0, 0};
    if (open_.size() >= max_open_) {
      auto oldest = std::min_element(open_.begin(), open_.end(), [](auto& a, auto& b) {
        return a.second.last_use < b.second.last_use;
      });
      ::close(oldest->second.fd);
      open_.erase(oldest);
    }
    it = open_.emplace(function_id, f).first;
  }
  it->second.last_use = ++uses_;
  return &it->second;
}

void log_store::write_records(const std::string& function_id,
                              const std::vector<const std::string*>& records) {
  auto path = file_of(function_id);
  for (std::size_t next = 0; next < records.size();) {
    auto* f = file_for(function_id, path);
    // Records join one write while the file stays under half its bound (the
    // one that takes it over is the last) and within a batch's size.
    std::string joined = *records[next];
    std::size_t count = 1;
    for (++next; f && next < records.size() && f->size + joined.size() < max_bytes_ / 2 &&
                 joined.size() + records[next]->size() <= batch_bytes;
         ++next, ++count)
      joined += *records[next];
    bool whole = f != nullptr;
    for (std::size_t done = 0; f && done < joined.size();) {
      ssize_t n = ::write(f->fd, joined.data() + done, joined.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        whole = false;
        break;
      }
      done += static_cast<std::size_t>(n);
      f->size += static_cast<uint64_t>(n);
    }
    if (!whole) {
      std::lock_guard lock{mu_};
      dropped_ += count;
    }
    if (f && f->size >= max_bytes_ / 2) { // a new file takes the next record
      ::close(f->fd);
      open_.erase(function_id);
      std::error_code ec;
      fs::rename(path, path.string() + ".1", ec);
    }
  }
}

std::string log_store::tail(const std::string& function_id, std::size_t max_bytes) {
  {
    // What was appended before this call is written first (bounded: a stuck
    // file system must not hang the caller).
    std::unique_lock lock{mu_};
    auto until = queued_;
    if (done_ < until) {
      flush_ = true;
      wake_.notify_one();
    }
    written_.wait_for(lock, std::chrono::seconds(2), [&] { return done_ >= until; });
  }
  auto path = file_of(function_id);
  std::lock_guard files{files_mu_};
  // One byte more than asked: whether the part returned begins a line.
  std::string out;
  prepend_tail(path, max_bytes + 1, out);
  if (out.size() <= max_bytes)
    prepend_tail(path.string() + ".1", max_bytes + 1 - out.size(), out);
  if (out.size() > max_bytes) {
    auto nl = out.find('\n');
    out.erase(0, nl == std::string::npos ? out.size() : nl + 1);
  }
  return out;
}

uint64_t log_store::dropped() const {
  std::lock_guard lock{mu_};
  return dropped_;
}

} // namespace troupe::storage
