#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace troupe::storage {

/// Bounds on what one uploaded archive may contain (defaults as Lambda's).
struct archive_limits {
  uint64_t max_archive_bytes = 50ull << 20;   ///< compressed upload
  uint64_t max_unpacked_bytes = 250ull << 20; ///< sum of regular file sizes
  uint64_t max_entries = 20'000;              ///< files, directories and links
};

/// What extract_archive did: `error` is empty on success, else it names the
/// offending entry or limit and nothing is left in the destination.
struct extract_result {
  std::string error;
  uint64_t files = 0;
  uint64_t unpacked_bytes = 0;
  explicit operator bool() const { return error.empty(); }
};

/// Extracts a zip (or tar) archive held in memory into `dest`, which must be an
/// existing empty directory. Refuses absolute paths, ".." components, symlinks
/// whose target leaves `dest`, hard links, device/fifo/socket entries, and
/// limit violations (checked on the real byte counts, not the headers' claims).
/// On refusal `dest` is emptied again. Modes keep only the 0755/0644 bits.
extract_result extract_archive(std::string_view archive, const std::filesystem::path& dest,
                               const archive_limits& limits);

} // namespace troupe::storage
