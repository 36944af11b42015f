#include "storage/code_store.hpp"

#include "storage/detail/file_util.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using detail::random_suffix;
using detail::valid_hex;

constexpr std::string_view tmp_prefix = ".tmp-";

/// Counts the regular files (and their bytes) of an extracted package.
void describe(const fs::path& dir, stored_package& out) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      ++out.files;
      out.unpacked_bytes += it->file_size(ec);
    }
  }
}

/// Writes `bytes` to a new file `path`; the error, or empty.
std::string write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  return out ? std::string{} : "cannot write " + path;
}

/// Removes `.tmp-*` directories left under `root` by an interrupted put().
void remove_stale_tmp(const fs::path& root) {
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.compare(0, tmp_prefix.size(), tmp_prefix) == 0) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

} // namespace

code_store::code_store(std::filesystem::path root, archive_limits limits)
    : root_(std::move(root)), limits_(limits) {
  std::error_code ec;
  fs::create_directories(root_, ec); // a failure surfaces at the first put()
  remove_stale_tmp(root_);
}

stored_package code_store::put(std::string_view archive) {
  stored_package out;
  out.archive_bytes = archive.size();
  if (archive.size() > limits_.max_archive_bytes) {
    out.error = "archive of " + std::to_string(archive.size()) + " bytes exceeds the limit of " +
                std::to_string(limits_.max_archive_bytes) + " bytes";
    return out;
  }
  out.digest = sha256(archive);
  out.digest_hex = to_hex(out.digest);
  out.dir = root_ / out.digest_hex;
  std::error_code ec;
  if (fs::is_directory(out.dir, ec)) {
    describe(out.dir, out);
    return out;
  }
  auto tmp = root_ / (std::string(tmp_prefix) + out.digest_hex + "-" + random_suffix());
  if (!fs::create_directories(tmp, ec)) {
    out.error = "cannot create " + tmp.string() + ": " + (ec ? ec.message() : "already exists");
    return out;
  }
  auto extracted = extract_archive(archive, tmp, limits_);
  if (!extracted) {
    fs::remove_all(tmp, ec);
    out.error = extracted.error;
    return out;
  }
  // The archive itself, kept beside the tree for nodes that fetch the package
  // (in place before the tree is: a package directory implies its archive).
  auto archive_tmp = tmp.string() + ".archive";
  if (auto err = write_file(archive_tmp, archive); !err.empty()) {
    fs::remove_all(tmp, ec);
    fs::remove(archive_tmp, ec);
    out.error = err;
    return out;
  }
  if (std::rename(archive_tmp.c_str(), archive_path(out.digest_hex).c_str()) != 0) {
    out.error = "cannot rename archive into place: " + std::string(std::strerror(errno));
    fs::remove_all(tmp, ec);
    fs::remove(archive_tmp, ec);
    return out;
  }
  if (std::rename(tmp.c_str(), out.dir.c_str()) != 0) {
    int err = errno;
    fs::remove_all(tmp, ec);
    if (!fs::is_directory(out.dir, ec)) { // not a lost race: a real failure
      out.error = "cannot rename package into place: " + std::string(std::strerror(err));
      return out;
    }
  }
  out.files = extracted.files;
  out.unpacked_bytes = extracted.unpacked_bytes;
  return out;
}

bool code_store::contains(const std::string& digest_hex) const {
  std::error_code ec;
  return valid_hex(digest_hex) && fs::is_directory(root_ / digest_hex, ec);
}

std::filesystem::path code_store::dir(const std::string& digest_hex) const {
  return root_ / digest_hex;
}

std::vector<std::string> code_store::list() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (valid_hex(name) && it->is_directory(ec))
      out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::filesystem::path code_store::archive_path(const std::string& digest_hex) const {
  return root_ / (digest_hex + ".archive");
}

std::optional<std::string> code_store::archive(const std::string& digest_hex) const {
  if (!contains(digest_hex))
    return std::nullopt;
  std::ifstream in{archive_path(digest_hex), std::ios::binary};
  if (!in)
    return std::nullopt;
  return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void code_store::remove(const std::string& digest_hex) {
  if (!valid_hex(digest_hex))
    return;
  std::error_code ec;
  fs::remove_all(root_ / digest_hex, ec);
  fs::remove(archive_path(digest_hex), ec);
}

} // namespace troupe::storage
