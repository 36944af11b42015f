#pragma once

#include "storage/archive.hpp"
#include "storage/digest.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::storage {

/// One entry of a package: a regular file, a directory or a symbolic link.
struct package_entry {
  enum class kind : uint8_t { file = 0, directory = 1, symlink = 2 };
  std::string path; ///< relative, '/'-separated, no leading '/', no "." or ".."
  kind type = kind::file;
  uint32_t mode = 0644;   ///< permission bits only (0755 or 0644 for files)
  uint64_t size = 0;      ///< file: its bytes; symlink: the target's length
  uint64_t offset = 0;    ///< file: where its bytes begin in the content file
  std::string target;     ///< symlink only
  sha256_digest digest{}; ///< file: SHA-256 of its bytes
};

/// A package's index: what the content file holds and where. The content
/// file is every regular file's bytes, one after another in index order,
/// verified in fixed-size chunks (the last one may be shorter), so that any
/// byte range can be fetched, checked and kept on its own.
struct package_index {
  uint64_t content_bytes = 0;
  uint32_t chunk_bytes = 256 * 1024;
  std::vector<sha256_digest> chunks;  ///< SHA-256 of each chunk of the content
  std::vector<package_entry> entries; ///< sorted by path; parents before children

  uint64_t chunk_count() const { return chunks.size(); }
  /// The length of chunk `i` (the last one may be short).
  uint64_t chunk_length(uint64_t i) const;
  /// The entry at `path` ("" is the root directory and has no entry), or nullptr.
  const package_entry* find(std::string_view path) const;
};

/// The index's wire and file format (versioned, little-endian, length-prefixed).
std::string encode_index(const package_index& index);
/// Parses an encoded index; nullopt (and `error` set) when it is malformed:
/// bad magic or version, truncated, entries unsorted or with unsafe paths,
/// file ranges outside the content, or a chunk count that does not match.
std::optional<package_index> decode_index(std::string_view bytes, std::string* error = nullptr);

/// A package's name: the lower-case hex SHA-256 of its encoded index (which
/// holds every chunk's digest, so it names the content too).
std::string package_digest(std::string_view encoded_index);

/// What build_package made of an archive.
struct built_package {
  std::string error; ///< empty on success; else nothing was written
  std::string digest_hex;
  std::string encoded_index;
  uint64_t files = 0;
  uint64_t unpacked_bytes = 0;
  explicit operator bool() const { return error.empty(); }
};

/// Turns a zip (or tar) archive into a package: writes the content file to
/// `content_path` and returns the index. Refuses (and removes what it wrote)
/// what extract_archive refuses: unsafe paths, links leaving the package,
/// hard links, devices, and the limits, counted on the real bytes.
built_package build_package(std::string_view archive, const std::filesystem::path& content_path,
                            const archive_limits& limits);

} // namespace troupe::storage
