#pragma once
// Internal: the small file-descriptor helpers storage/ shares. Include only
// from storage/ .cpp files.

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace troupe::storage::detail {

/// Owns one file descriptor; closes it on destruction.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

/// "what: <strerror(errno)>".
inline std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

/// Writes all of `data` at the file position (offset < 0) or at `offset`,
/// retrying short writes and EINTR; false (errno set) on failure.
inline bool write_all(int fd, std::string_view data, int64_t offset = -1) {
  while (!data.empty()) {
    auto n = offset < 0 ? ::write(fd, data.data(), data.size())
                        : ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
    if (offset >= 0)
      offset += n;
  }
  return true;
}

/// Reads exactly `length` bytes at `offset`; false on failure or end of file.
inline bool pread_all(int fd, char* out, uint64_t length, uint64_t offset) {
  while (length > 0) {
    auto n = ::pread(fd, out, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    out += n;
    length -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

/// True for the 64 lower-case hex digits of a digest, so a caller's string can
/// never name anything but a package (no "..", no "/").
inline bool valid_hex(std::string_view hex) {
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// A fresh random suffix for a temporary name.
inline std::string random_suffix() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

} // namespace troupe::storage::detail
