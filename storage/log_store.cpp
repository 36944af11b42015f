#include "storage/log_store.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::storage {

namespace fs = std::filesystem;

namespace {

/// Up to `max` bytes from the end of `path`, appended to `out`'s front.
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

log_store::log_store(fs::path dir, uint64_t max_bytes, std::size_t max_open)
    : dir_(std::move(dir)), max_bytes_(max_bytes), max_open_(std::max<std::size_t>(1, max_open)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

log_store::~log_store() {
  for (auto& [_, f] : open_)
    ::close(f.fd);
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

fs::path log_store::file_of(const std::string& function_id) const {
  auto name = function_id;
  if (auto slash = name.find('/'); slash != std::string::npos)
    name[slash] = '.';
  return dir_ / (name + ".log");
}

void log_store::append(const std::string& function_id, std::string_view record) {
  auto path = file_of(function_id);
  std::lock_guard lock{mu_};
  auto* f = file_for(function_id, path);
  if (!f)
    return;
  for (std::size_t done = 0; done < record.size();) {
    ssize_t n = ::write(f->fd, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<std::size_t>(n);
    f->size += static_cast<uint64_t>(n);
  }
  if (f->size >= max_bytes_ / 2) { // a new file takes the next record
    ::close(f->fd);
    open_.erase(function_id);
    std::error_code ec;
    fs::rename(path, path.string() + ".1", ec);
  }
}

std::string log_store::tail(const std::string& function_id, std::size_t max_bytes) const {
  auto path = file_of(function_id);
  std::lock_guard lock{mu_};
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

} // namespace troupe::storage
