#include "storage/archive.hpp"

#include "storage/detail/file_util.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using detail::errno_text;
using detail::unique_fd;
using detail::write_all;
using parts_t = std::vector<std::string>;

/// Quotes an entry name for a message: control bytes escaped, long names cut.
std::string shown(std::string_view name) {
  constexpr size_t max_shown = 200;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char digits[] = "0123456789abcdef";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 0x0f];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > max_shown)
    out += "...";
  return out + "'";
}

/// Splits `path` at '/' into its components, keeping empty and "." ones.
parts_t split(std::string_view path) {
  parts_t out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join(const parts_t& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i)
    out += (i ? "/" : "") + parts[i];
  return out;
}

/// Normalises an entry name into components below dest ("" and "." dropped);
/// returns an error text for absolute names and ".." components.
std::string normalise(std::string_view name, parts_t& parts) {
  if (name.front() == '/')
    return "absolute path";
  for (auto& part : split(name)) {
    if (part == "..")
      return "'..' path component";
    if (!part.empty() && part != ".")
      parts.push_back(std::move(part));
  }
  return {};
}

enum class resolved { inside, outside, loops };

/// Resolves the symlink target `target`, relative to the directory `dir`, the
/// way the kernel would, expanding the archive's own `links` (path -> target):
/// outside if the walk climbs above dest or meets an absolute target.
resolved resolve_link(parts_t dir, std::string_view target,
                      const std::map<std::string, std::string>& links) {
  constexpr int max_expansions = 40; // the kernel's MAXSYMLINKS
  int budget = max_expansions;
  if (target.empty() || target.front() == '/')
    return resolved::outside;
  auto pending_parts = split(target);
  std::deque<std::string> pending(pending_parts.begin(), pending_parts.end());
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (dir.empty())
        return resolved::outside;
      dir.pop_back();
      continue;
    }
    dir.push_back(std::move(part));
    auto link = links.find(join(dir, dir.size()));
    if (link == links.end())
      continue;
    if (--budget < 0)
      return resolved::loops;
    if (link->second.empty() || link->second.front() == '/')
      return resolved::outside;
    dir.pop_back();
    auto more = split(link->second);
    pending.insert(pending.begin(), more.begin(), more.end());
  }
  return resolved::inside;
}

/// "" if `target` (of a link in `dir`) stays inside dest, else why not.
std::string check_link(const parts_t& dir, const std::string& target,
                       const std::map<std::string, std::string>& links) {
  switch (resolve_link(dir, target, links)) {
  case resolved::inside:
    return {};
  case resolved::outside:
    return "symlink target " + shown(target) + " leaves the destination";
  case resolved::loops:
    return "symlink target " + shown(target) + " loops";
  }
  return {};
}

/// 0755 if any execute bit is set, else 0644.
mode_t file_mode(mode_t perm) {
  return (perm & 0111) ? 0755 : 0644;
}

/// Writes one archive's entries below an open, empty destination directory.
/// Every path is walked component by component with O_NOFOLLOW, so nothing is
/// ever written through a symlink, and files are created with O_EXCL.
class extractor {
public:
  extractor(int dest_fd, const archive_limits& limits) : dest_fd_(dest_fd), limits_(limits) {}

  /// Reads and extracts every entry; returns "" or the reason for refusing.
  std::string run(archive* a) {
    archive_entry* entry = nullptr;
    for (;;) {
      int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF)
        return check_links();
      if (rc < ARCHIVE_WARN)
        return libarchive_error(a, entries_ == 0 ? "not a readable zip or tar archive"
                                                 : "cannot read archive");
      if (++entries_ > limits_.max_entries)
        return "archive has more than " + std::to_string(limits_.max_entries) + " entries";
      if (auto err = extract_entry(a, entry); !err.empty())
        return err;
    }
  }

  const extract_result& result() const { return result_; }

private:
  static std::string libarchive_error(archive* a, const std::string& what) {
    const char* text = archive_error_string(a);
    return what + ": " + (text ? text : "unknown libarchive error");
  }

  std::string extract_entry(archive* a, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    if (!raw || !*raw)
      return "archive entry #" + std::to_string(entries_) + ": empty name";
    std::string name = raw;
    auto err = check_and_write(a, entry, name);
    return err.empty() ? err : "archive entry " + shown(name) + ": " + err;
  }

  std::string check_and_write(archive* a, archive_entry* entry, const std::string& name) {
    parts_t parts;
    if (auto err = normalise(name, parts); !err.empty())
      return err;
    if (archive_entry_hardlink(entry))
      return "hard links are not allowed";
    auto type = archive_entry_filetype(entry);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      return "device, fifo and socket entries are not allowed";
    if (parts.empty())
      return type == AE_IFDIR ? "" : "empty name";
    if (!seen_.insert(join(parts, parts.size())).second)
      return "duplicate entry";
    unique_fd parent;
    if (auto err = open_parent(parts, parent); !err.empty())
      return err;
    const std::string& leaf = parts.back();
    if (type == AE_IFDIR)
      return make_dir(parent.get(), leaf);
    if (type == AE_IFLNK)
      return make_symlink(parent.get(), parts, archive_entry_symlink(entry));
    return write_file(a, parent.get(), leaf, file_mode(archive_entry_perm(entry)));
  }

  /// Opens the directory holding the last component, creating missing parents.
  std::string open_parent(const parts_t& parts, unique_fd& out) {
    unique_fd cur(::openat(dest_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cur)
      return errno_text("cannot open destination");
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      unique_fd next;
      if (auto err = open_dir(cur.get(), parts[i], next); !err.empty())
        return "path component " + shown(join(parts, i + 1)) + ": " + err;
      cur = std::move(next);
    }
    out = std::move(cur);
    return {};
  }

  /// Creates (if missing) and opens the directory `name` below `parent`, never
  /// following a symlink; sets its mode to 0755.
  static std::string open_dir(int parent, const std::string& name, unique_fd& out) {
    if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST)
      return errno_text("cannot create directory");
    out =
        unique_fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!out)
      return errno == ELOOP || errno == ENOTDIR ? "is a symlink or not a directory"
                                                : errno_text("cannot open directory");
    if (::fchmod(out.get(), 0755) != 0)
      return errno_text("cannot set directory mode");
    return {};
  }

  static std::string make_dir(int parent, const std::string& leaf) {
    unique_fd dir;
    return open_dir(parent, leaf, dir);
  }

  std::string make_symlink(int parent, const parts_t& parts, const char* target) {
    if (!target || !*target)
      return "symlink without a target";
    if (auto err = check_link(parts_t(parts.begin(), parts.end() - 1), target, links_);
        !err.empty())
      return err;
    if (::symlinkat(target, parent, parts.back().c_str()) != 0)
      return errno_text("cannot create symlink");
    links_.emplace(join(parts, parts.size()), target);
    return {};
  }

  std::string write_file(archive* a, int parent, const std::string& leaf, mode_t mode) {
    unique_fd fd(
        ::openat(parent, leaf.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode));
    if (!fd)
      return errno_text("cannot create file");
    if (::fchmod(fd.get(), mode) != 0)
      return errno_text("cannot set file mode");
    ++result_.files;
    return copy_data(a, fd.get());
  }

  /// Copies the entry's data, counting the bytes really produced (not the
  /// header's claim) against max_unpacked_bytes.
  std::string copy_data(archive* a, int fd) {
    buffer_.resize(64 * 1024);
    for (;;) {
      la_ssize_t n = archive_read_data(a, buffer_.data(), buffer_.size());
      if (n == 0)
        return {};
      if (n < 0)
        return libarchive_error(a, "cannot read data");
      auto bytes = static_cast<uint64_t>(n);
      if (bytes > limits_.max_unpacked_bytes - result_.unpacked_bytes)
        return "unpacked size exceeds the limit of " + std::to_string(limits_.max_unpacked_bytes) +
               " bytes";
      result_.unpacked_bytes += bytes;
      if (!write_all(fd, {buffer_.data(), static_cast<size_t>(bytes)}))
        return errno_text("cannot write file");
    }
  }

  /// Re-checks every symlink once all are known: a chain of links that each
  /// look harmless can still climb out of dest together.
  std::string check_links() const {
    for (const auto& [path, target] : links_) {
      auto parts = split(path);
      parts.pop_back();
      if (auto err = check_link(parts, target, links_); !err.empty())
        return "archive entry " + shown(path) + ": " + err + " (through other symlinks)";
    }
    return {};
  }

  int dest_fd_;
  archive_limits limits_;
  extract_result result_;
  uint64_t entries_ = 0;
  std::set<std::string> seen_;
  std::map<std::string, std::string> links_;
  std::vector<char> buffer_;
};

using archive_ptr = std::unique_ptr<archive, decltype(&archive_read_free)>;

/// A reader for zip and tar (optionally gzip-compressed) over `data`.
archive_ptr open_reader(std::string_view data, std::string& error) {
  archive_ptr a(archive_read_new(), &archive_read_free);
  if (!a) {
    error = "cannot allocate archive reader";
    return a;
  }
  archive_read_support_format_zip(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    const char* text = archive_error_string(a.get());
    error = std::string("not a readable zip or tar archive: ") + (text ? text : "unknown error");
  }
  return a;
}

/// Removes everything below `dest`, leaving the directory itself.
void empty_directory(const fs::path& dest) {
  std::error_code ec;
  for (fs::directory_iterator it(dest, ec), end; !ec && it != end; it.increment(ec))
    fs::remove_all(it->path(), ec);
}

} // namespace

extract_result extract_archive(std::string_view archive, const std::filesystem::path& dest,
                               const archive_limits& limits) {
  extract_result out;
  std::error_code ec;
  if (!fs::is_directory(dest, ec) || !fs::is_empty(dest, ec) || ec) {
    out.error = "destination " + dest.string() + " is not an existing empty directory";
    return out;
  }
  if (archive.size() > limits.max_archive_bytes) {
    out.error = "archive of " + std::to_string(archive.size()) + " bytes exceeds the limit of " +
                std::to_string(limits.max_archive_bytes) + " bytes";
    return out;
  }
  auto reader = open_reader(archive, out.error);
  if (!out.error.empty())
    return out;
  {
    unique_fd dest_fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest_fd) {
      out.error = errno_text("cannot open destination " + dest.string());
      return out;
    }
    extractor x(dest_fd.get(), limits);
    out.error = x.run(reader.get());
    out.files = x.result().files;
    out.unpacked_bytes = x.result().unpacked_bytes;
  }
  if (!out.error.empty()) {
    empty_directory(dest);
    out.files = out.unpacked_bytes = 0;
  }
  return out;
}

} // namespace troupe::storage
