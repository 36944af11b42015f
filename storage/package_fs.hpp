#pragma once

#include "storage/package.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace troupe::storage {

/// Where the package file system gets what it shows. Called on the file
/// system's own threads, several at once.
class package_source {
public:
  virtual ~package_source() = default;
  /// The index of package `digest_hex`, or nullptr when this node does not know it.
  virtual std::shared_ptr<const package_index> index(const std::string& digest_hex) = 0;
  /// Every package this node knows (the root directory's listing).
  virtual std::vector<std::string> packages() = 0;
  /// Copies content bytes [offset, offset + length) of the package into
  /// `out`, blocking until they are local (fetched and verified). Returns 0,
  /// or an errno value (EIO when they cannot be had) that the reader gets.
  virtual int read(const std::string& digest_hex, uint64_t offset, std::size_t length,
                   char* out) = 0;
};

/// What a package_fs has served since it was mounted (monotonic counters).
struct package_fs_stats {
  uint64_t lookups = 0;     ///< name lookups the kernel asked for, found or not
  uint64_t reads = 0;       ///< read requests, failed ones included
  uint64_t bytes_read = 0;  ///< bytes handed to readers
  uint64_t read_errors = 0; ///< reads the source refused (the reader got its errno)
};

/// One read-only FUSE file system (libfuse3) showing every package of a
/// `package_source` as a directory `<mountpoint>/<digest hex>/`, its tree as
/// the index gives it. Metadata comes from the index alone; a read asks the
/// source for just its range and blocks only that read. Content never
/// changes, so the kernel is told to cache entries, attributes and pages for
/// good. Only 64-hex-digit names are packages: other names in the root are
/// absent without asking the source.
/// Contract: mount() removes a stale mount left at `mountpoint` by a process
/// that died. stop() (or the destructor) first cuts the kernel connection,
/// so every request on the mount, a read waiting for the source included,
/// fails at once (ENOTCONN or ECONNABORTED) and the mount point is free, then
/// joins the file system's threads: it returns when every call into the
/// source in progress has returned. The source must outlive the package_fs.
class package_fs {
public:
  /// Mounts at `mountpoint` (created if missing); nullptr and `error` set
  /// when FUSE is unavailable (no /dev/fuse, no permission) or the mount fails.
  static std::unique_ptr<package_fs> mount(const std::filesystem::path& mountpoint,
                                           package_source& source, std::string* error);
  /// True when this machine can mount FUSE file systems (/dev/fuse opens).
  static bool available();

  ~package_fs();
  package_fs(const package_fs&) = delete;
  package_fs& operator=(const package_fs&) = delete;

  const std::filesystem::path& mountpoint() const;
  /// The directory of a package under the mount.
  std::filesystem::path dir(const std::string& digest_hex) const;
  /// Unmounts and joins the threads (see the class comment). Idempotent.
  void stop();
  /// The counters so far (they keep their values after stop()).
  package_fs_stats stats() const;

  struct impl;

private:
  explicit package_fs(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::storage
