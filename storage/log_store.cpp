#include "storage/log_store.hpp"

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

log_store::log_store(fs::path dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
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
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    return;
  for (std::size_t done = 0; done < record.size();) {
    ssize_t n = ::write(fd, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  struct stat st {};
  bool full = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) >= max_bytes_ / 2;
  ::close(fd);
  if (full) {
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
