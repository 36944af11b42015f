#include "storage/package.hpp"

#include "storage/detail/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using detail::errno_text;
using detail::random_suffix;
using detail::unique_fd;
using detail::write_all;

constexpr std::string_view magic = "TRPKIDX1";
constexpr uint32_t max_chunk_bytes = 16u << 20;
constexpr uint32_t max_name_bytes = 4096;

// --- the index's encoding ---------------------------------------------------

void put_u8(std::string& out, uint8_t v) {
  out.push_back(static_cast<char>(v));
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_bytes(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void put_digest(std::string& out, const sha256_digest& d) {
  out.append(reinterpret_cast<const char*>(d.data()), d.size());
}

/// Reads the encoding front to back; any read past the end marks it failed.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }

  uint64_t uint(int bytes) {
    if (!take(static_cast<size_t>(bytes)))
      return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= uint64_t{static_cast<uint8_t>(in_[pos_ - bytes + i])} << (8 * i);
    return v;
  }
  std::string bytes(uint32_t max) {
    auto n = static_cast<uint32_t>(uint(4));
    if (n > max) {
      ok_ = false;
      return {};
    }
    return take(n) ? std::string{in_.substr(pos_ - n, n)} : std::string{};
  }
  sha256_digest digest() {
    sha256_digest d{};
    if (take(d.size()))
      std::memcpy(d.data(), in_.data() + pos_ - d.size(), d.size());
    return d;
  }
  /// Whether `count` items of at least `each` bytes can still follow.
  bool room_for(uint64_t count, uint64_t each) {
    if (count > (in_.size() - pos_) / each)
      ok_ = false;
    return ok_;
  }

private:
  bool take(size_t n) {
    if (!ok_ || in_.size() - pos_ < n)
      return ok_ = false;
    pos_ += n;
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

/// A relative path of non-empty components, none "." or "..", without NUL.
bool safe_path(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/' || p.find('\0') != std::string_view::npos)
    return false;
  size_t start = 0;
  while (start <= p.size()) {
    auto end = std::min(p.find('/', start), p.size());
    auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      return false;
    start = end + 1;
  }
  return true;
}

std::string_view parent_of(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : p.substr(0, slash);
}

/// Why a decoded index cannot be used, or "".
std::string check(const package_index& x) {
  if (x.chunk_bytes == 0 || x.chunk_bytes > max_chunk_bytes)
    return "chunk size " + std::to_string(x.chunk_bytes) + " out of range";
  if (x.chunks.size() != (x.content_bytes + x.chunk_bytes - 1) / x.chunk_bytes)
    return "chunk count does not match the content size";
  const package_entry* prev = nullptr;
  for (const auto& e : x.entries) {
    if (!safe_path(e.path))
      return "unsafe path in index";
    if (prev && !(prev->path < e.path))
      return "index entries not sorted";
    auto parent = parent_of(e.path);
    if (!parent.empty()) {
      auto* p = x.find(parent);
      if (!p || p->type != package_entry::kind::directory)
        return "entry without its parent directory";
    }
    switch (e.type) {
    case package_entry::kind::file:
      if (e.offset > x.content_bytes || e.size > x.content_bytes - e.offset)
        return "file range outside the content";
      break;
    case package_entry::kind::symlink:
      if (e.target.empty() || e.target.front() == '/' || e.target.size() != e.size)
        return "bad symlink target";
      break;
    case package_entry::kind::directory:
      break;
    default:
      return "unknown entry type";
    }
    prev = &e;
  }
  return {};
}

// --- building ---------------------------------------------------------------

/// Hashes the content in chunks as it is written.
class chunker {
public:
  chunker(int fd, uint32_t chunk_bytes, std::vector<sha256_digest>& out)
      : fd_(fd), chunk_bytes_(chunk_bytes), out_(out) {}

  std::string write(std::string_view data) {
    for (auto rest = data; !rest.empty();) {
      auto n = std::min<uint64_t>(rest.size(), chunk_bytes_ - filled_);
      hasher_.update(rest.substr(0, n));
      filled_ += n;
      rest.remove_prefix(n);
      if (filled_ == chunk_bytes_)
        close_chunk();
    }
    return write_all(fd_, data) ? "" : errno_text("cannot write package content");
  }
  void finish() {
    if (filled_ > 0)
      close_chunk();
  }

private:
  void close_chunk() {
    out_.push_back(hasher_.finish());
    filled_ = 0;
  }

  int fd_;
  uint32_t chunk_bytes_;
  std::vector<sha256_digest>& out_;
  sha256_hasher hasher_;
  uint64_t filled_ = 0;
};

/// The entries of an extracted tree, sorted by path, content not yet placed.
std::vector<package_entry> list_tree(const fs::path& root, std::string& error) {
  std::vector<package_entry> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    package_entry e;
    e.path = it->path().lexically_relative(root).generic_string();
    auto st = it->symlink_status(ec);
    if (ec)
      break;
    if (fs::is_symlink(st)) {
      e.type = package_entry::kind::symlink;
      e.target = fs::read_symlink(it->path(), ec).string();
      e.size = e.target.size();
      e.mode = 0777;
    } else if (fs::is_directory(st)) {
      e.type = package_entry::kind::directory;
      e.mode = 0755;
    } else {
      e.type = package_entry::kind::file;
      e.mode = (static_cast<unsigned>(st.permissions()) & 0111) ? 0755 : 0644;
    }
    out.push_back(std::move(e));
  }
  if (ec)
    error = "cannot list the extracted package: " + ec.message();
  std::sort(out.begin(), out.end(),
            [](const package_entry& a, const package_entry& b) { return a.path < b.path; });
  return out;
}

/// Appends every file of `root` to the content (in index order), filling in
/// offsets, sizes and digests.
std::string write_content(const fs::path& root, package_index& index, int fd) {
  chunker chunks{fd, index.chunk_bytes, index.chunks};
  std::string buffer(256 * 1024, '\0');
  for (auto& e : index.entries) {
    if (e.type != package_entry::kind::file)
      continue;
    unique_fd in{::open((root / e.path).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
    if (!in)
      return errno_text("cannot read extracted " + e.path);
    e.offset = index.content_bytes;
    sha256_hasher file_hash;
    std::string err;
    for (;;) {
      auto n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        err = errno_text("cannot read extracted " + e.path);
        break;
      }
      if (n == 0)
        break;
      std::string_view piece{buffer.data(), static_cast<size_t>(n)};
      file_hash.update(piece);
      if (err = chunks.write(piece); !err.empty())
        break;
      e.size += static_cast<uint64_t>(n);
      index.content_bytes += static_cast<uint64_t>(n);
    }
    if (!err.empty())
      return err;
    e.digest = file_hash.finish();
  }
  chunks.finish();
  return {};
}

} // namespace

uint64_t package_index::chunk_length(uint64_t i) const {
  if (i >= chunks.size())
    return 0;
  return std::min<uint64_t>(chunk_bytes, content_bytes - i * chunk_bytes);
}

const package_entry* package_index::find(std::string_view path) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), path,
                             [](const package_entry& e, std::string_view p) { return e.path < p; });
  return it != entries.end() && it->path == path ? &*it : nullptr;
}

std::string encode_index(const package_index& x) {
  std::string out{magic};
  put_u64(out, x.content_bytes);
  put_u32(out, x.chunk_bytes);
  put_u64(out, x.chunks.size());
  for (auto& d : x.chunks)
    put_digest(out, d);
  put_u64(out, x.entries.size());
  for (auto& e : x.entries) {
    put_u8(out, static_cast<uint8_t>(e.type));
    put_u32(out, e.mode);
    put_u64(out, e.size);
    put_u64(out, e.offset);
    put_bytes(out, e.path);
    put_bytes(out, e.target);
    put_digest(out, e.digest);
  }
  return out;
}

std::optional<package_index> decode_index(std::string_view bytes, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<package_index> {
    if (error)
      *error = "malformed package index: " + why;
    return std::nullopt;
  };
  if (bytes.substr(0, magic.size()) != magic)
    return fail("bad magic or version");
  reader in{bytes.substr(magic.size())};
  package_index x;
  x.content_bytes = in.uint(8);
  x.chunk_bytes = static_cast<uint32_t>(in.uint(4));
  auto chunk_count = in.uint(8);
  if (!in.room_for(chunk_count, 32))
    return fail("truncated");
  x.chunks.reserve(chunk_count);
  for (uint64_t i = 0; i < chunk_count; ++i)
    x.chunks.push_back(in.digest());
  auto entry_count = in.uint(8);
  if (!in.room_for(entry_count, 1 + 4 + 8 + 8 + 4 + 4 + 32))
    return fail("truncated");
  x.entries.reserve(entry_count);
  for (uint64_t i = 0; i < entry_count && in.ok(); ++i) {
    package_entry e;
    e.type = static_cast<package_entry::kind>(in.uint(1));
    e.mode = static_cast<uint32_t>(in.uint(4)) & 07777;
    e.size = in.uint(8);
    e.offset = in.uint(8);
    e.path = in.bytes(max_name_bytes);
    e.target = in.bytes(max_name_bytes);
    e.digest = in.digest();
    x.entries.push_back(std::move(e));
  }
  if (!in.ok())
    return fail("truncated");
  if (!in.at_end())
    return fail("trailing bytes");
  if (auto why = check(x); !why.empty())
    return fail(why);
  return x;
}

std::string package_digest(std::string_view encoded_index) {
  return to_hex(sha256(encoded_index));
}

built_package build_package(std::string_view archive, const fs::path& content_path,
                            const archive_limits& limits) {
  built_package out;
  std::error_code ec;
  // Extracted first by the one extractor that checks every entry, then laid
  // out as content: one set of rules for what a package may hold.
  auto tree = content_path.parent_path() / (".tmp-build-" + random_suffix());
  struct cleanup {
    fs::path dir;
    ~cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } remove_tree{tree};
  if (!fs::create_directories(tree, ec)) {
    out.error = "cannot create " + tree.string() + ": " + (ec ? ec.message() : "already exists");
    return out;
  }
  auto extracted = extract_archive(archive, tree, limits);
  if (!extracted) {
    out.error = extracted.error;
    return out;
  }
  package_index index;
  index.entries = list_tree(tree, out.error);
  if (!out.error.empty())
    return out;
  {
    unique_fd fd{::open(content_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (!fd) {
      out.error = errno_text("cannot create " + content_path.string());
      return out;
    }
    out.error = write_content(tree, index, fd.get());
    if (out.error.empty() && ::fsync(fd.get()) != 0)
      out.error = errno_text("cannot sync " + content_path.string());
  }
  if (!out.error.empty()) {
    fs::remove(content_path, ec);
    return out;
  }
  out.encoded_index = encode_index(index);
  out.digest_hex = package_digest(out.encoded_index);
  out.files = extracted.files;
  out.unpacked_bytes = extracted.unpacked_bytes;
  return out;
}

} // namespace troupe::storage
