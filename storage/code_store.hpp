#pragma once

#include "storage/archive.hpp"
#include "storage/digest.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::storage {

/// A package as stored: content-addressed by the SHA-256 of the uploaded archive.
struct stored_package {
  std::string error; ///< empty on success
  sha256_digest digest{};
  std::string digest_hex;
  std::filesystem::path dir; ///< extracted tree, read-only from here on
  uint64_t archive_bytes = 0;
  uint64_t unpacked_bytes = 0;
  uint64_t files = 0;
  explicit operator bool() const { return error.empty(); }
};

/// The node's code packages under one root directory: `<root>/<hex digest>/`,
/// with the uploaded archive beside it (`<hex digest>.archive`) for the nodes
/// that fetch the package. Contract: put() is idempotent (an identical upload
/// reuses the package), a package directory appears atomically (extracted
/// beside it, then renamed) and only once its archive is in place, and a
/// refused archive leaves nothing behind. Safe to call from several threads.
class code_store {
public:
  code_store(std::filesystem::path root, archive_limits limits);

  stored_package put(std::string_view archive);
  bool contains(const std::string& digest_hex) const;
  std::filesystem::path dir(const std::string& digest_hex) const;
  /// The digests (hex) of every stored package.
  std::vector<std::string> list() const;
  /// The archive of a stored package; nullopt if the package is unknown.
  std::optional<std::string> archive(const std::string& digest_hex) const;
  void remove(const std::string& digest_hex);

private:
  std::filesystem::path archive_path(const std::string& digest_hex) const;

  std::filesystem::path root_;
  archive_limits limits_;
};

} // namespace troupe::storage
