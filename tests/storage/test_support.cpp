#include "tests/storage/test_support.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace troupe::storage::test {
namespace {

namespace fs = std::filesystem;

la_ssize_t append(archive*, void* out, const void* data, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

std::string error_of(archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

void check(archive* a, int rc, const char* what) {
  if (rc < ARCHIVE_WARN)
    throw std::runtime_error(std::string(what) + ": " + error_of(a));
}

void set_type(archive_entry* e, const test_entry& t) {
  switch (t.kind) {
  case test_entry::file:
  case test_entry::hardlink:
    archive_entry_set_filetype(e, AE_IFREG);
    break;
  case test_entry::dir:
    archive_entry_set_filetype(e, AE_IFDIR);
    break;
  case test_entry::symlink:
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_symlink(e, t.link.c_str());
    break;
  case test_entry::fifo:
    archive_entry_set_filetype(e, AE_IFIFO);
    break;
  case test_entry::char_device:
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_rdev(e, makedev(1, 3));
    break;
  }
  if (t.kind == test_entry::hardlink)
    archive_entry_set_hardlink(e, t.link.c_str());
}

void write_entry(archive* a, const test_entry& t) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                  &archive_entry_free);
  archive_entry_set_pathname(e.get(), t.name.c_str());
  set_type(e.get(), t);
  archive_entry_set_perm(e.get(), t.perm);
  archive_entry_set_mtime(e.get(), 1700000000, 0);
  uint64_t size = t.zero_bytes ? t.zero_bytes : t.data.size();
  if (t.kind == test_entry::file && !t.omit_size)
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
  else if (t.kind == test_entry::file)
    archive_entry_unset_size(e.get());
  else
    archive_entry_set_size(e.get(), 0);
  check(a, archive_write_header(a, e.get()), "write header");
  if (t.kind != test_entry::file)
    return;
  if (!t.zero_bytes) {
    archive_write_data(a, t.data.data(), t.data.size());
    return;
  }
  std::string zeros(1 << 20, '\0');
  for (uint64_t left = t.zero_bytes; left > 0;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
    if (archive_write_data(a, zeros.data(), n) < 0)
      throw std::runtime_error("write data: " + error_of(a));
    left -= n;
  }
}

void set_format(archive* a, archive_format format) {
  if (format == archive_format::zip) {
    check(a, archive_write_set_format_zip(a), "zip format");
    return;
  }
  check(a, archive_write_set_format_pax(a), "pax format");
  if (format == archive_format::tar_gz)
    check(a, archive_write_add_filter_gzip(a), "gzip filter");
}

void patch_u32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

} // namespace

std::string build_archive(archive_format format, const std::vector<test_entry>& entries) {
  std::string out;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  set_format(a.get(), format);
  archive_write_set_bytes_in_last_block(a.get(), 1);
  check(a.get(), archive_write_open2(a.get(), &out, nullptr, &append, nullptr, nullptr), "open");
  for (const auto& t : entries)
    write_entry(a.get(), t);
  check(a.get(), archive_write_close(a.get()), "close");
  return out;
}

void patch_zip_uncompressed_sizes(std::string& zip, uint32_t size) {
  for (size_t at = 0; at + 4 <= zip.size(); ++at) {
    if (zip.compare(at, 4, "PK\x03\x04") == 0 && at + 26 <= zip.size())
      patch_u32(zip, at + 22, size);
    else if (zip.compare(at, 4, "PK\x07\x08") == 0 && at + 16 <= zip.size())
      patch_u32(zip, at + 12, size);
    else if (zip.compare(at, 4, "PK\x01\x02") == 0 && at + 28 <= zip.size())
      patch_u32(zip, at + 24, size);
  }
}

temp_dir::temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "troupe-storage-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path().lexically_relative(dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace troupe::storage::test
