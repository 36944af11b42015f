#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace troupe::storage::test {

/// One entry of an archive crafted by a test, malicious ones included.
struct test_entry {
  enum kind_t { file, dir, symlink, hardlink, fifo, char_device };
  kind_t kind = file;
  std::string name;
  std::string data;        ///< file contents
  unsigned perm = 0644;    ///< permission bits as stored
  std::string link;        ///< symlink or hard-link target
  uint64_t zero_bytes = 0; ///< if set: the file is this many zero bytes, streamed
  bool omit_size = false;  ///< leave the header's size unset (zip: length-at-end)
};

/// Factories for the entries tests craft (aggregate init would trip -Wextra).
inline test_entry file(std::string name, std::string data, unsigned perm = 0644) {
  test_entry e;
  e.name = std::move(name);
  e.data = std::move(data);
  e.perm = perm;
  return e;
}
inline test_entry special(test_entry::kind_t kind, std::string name, std::string link = {}) {
  test_entry e;
  e.kind = kind;
  e.name = std::move(name);
  e.perm = kind == test_entry::dir ? 0755 : kind == test_entry::symlink ? 0777 : 0644;
  e.link = std::move(link);
  return e;
}
inline test_entry dir(std::string name) {
  return special(test_entry::dir, std::move(name));
}
inline test_entry symlink(std::string name, std::string target) {
  return special(test_entry::symlink, std::move(name), std::move(target));
}
/// A file of `bytes` zeros; `omit_size` leaves the header's size unset.
inline test_entry zeros(std::string name, uint64_t bytes, bool omit_size) {
  test_entry e = file(std::move(name), {});
  e.zero_bytes = bytes;
  e.omit_size = omit_size;
  return e;
}

enum class archive_format { zip, tar, tar_gz };

/// Builds an archive in memory with libarchive's writer.
std::string build_archive(archive_format format, const std::vector<test_entry>& entries);

/// Overwrites every zip header's uncompressed size field (local headers, data
/// descriptors, central directory) with `size`, to make an entry lie about it.
void patch_zip_uncompressed_sizes(std::string& zip, uint32_t size);

/// A unique directory under /tmp, removed with everything in it on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// Reads a whole file; "" if it cannot be read.
std::string read_file(const std::filesystem::path& p);

/// Names of everything below `dir`, relative and sorted (symlinks not followed).
std::vector<std::string> tree(const std::filesystem::path& dir);

} // namespace troupe::storage::test
