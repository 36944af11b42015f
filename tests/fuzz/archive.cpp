// libFuzzer target: extracting an uploaded archive (storage/archive.hpp), the
// code store's way in. Each input is extracted into a fresh directory, with
// limits small enough to be reached; whatever is extracted must stay inside
// it and within the limits, and a refused archive must leave it empty. The
// directory is removed after every input.

#include "tests/fuzz/fuzz_check.hpp"

#include "storage/archive.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>

namespace troupe::fuzz {
namespace {

namespace fs = std::filesystem;

/// A private directory under $TMPDIR for this process, removed at exit (a
/// crash leaves it: deploy/fuzz.sh points TMPDIR into its run directory).
const fs::path& work_root() {
  static const fs::path* root = [] {
    auto pattern = (fs::temp_directory_path() / "troupe-fuzz-archive-XXXXXX").string();
    FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
    auto* path = new fs::path(pattern); // never destroyed: the atexit handler uses it
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*root, ec);
    });
    return path;
  }();
  return *root;
}

bool inside(const fs::path& p, const fs::path& root) {
  auto rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

/// Walks what was extracted: regular files, directories and symlinks only,
/// modes 0755/0644, every symlink resolving inside `dest`, totals as reported.
void check_tree(const fs::path& dest, const storage::extract_result& r,
                const storage::archive_limits& limits) {
  const auto real_dest = fs::canonical(dest);
  uint64_t files = 0, bytes = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dest, ec), end; !ec && it != end; it.increment(ec)) {
    auto st = it->symlink_status();
    struct stat raw {};
    FUZZ_CHECK(::lstat(it->path().c_str(), &raw) == 0);
    if (fs::is_symlink(st)) {
      std::error_code weak;
      auto target = fs::weakly_canonical(it->path(), weak);
      FUZZ_CHECK(weak || inside(target, real_dest) || target == real_dest);
      continue;
    }
    auto perm = raw.st_mode & 07777;
    if (fs::is_directory(st)) {
      FUZZ_CHECK(perm == 0755);
      continue;
    }
    FUZZ_CHECK(fs::is_regular_file(st));
    FUZZ_CHECK(perm == 0755 || perm == 0644);
    ++files;
    bytes += static_cast<uint64_t>(raw.st_size);
  }
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(files == r.files && bytes == r.unpacked_bytes);
  FUZZ_CHECK(bytes <= limits.max_unpacked_bytes && files <= limits.max_entries);
}

} // namespace
} // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace troupe;
  namespace fs = std::filesystem;
  storage::archive_limits limits;
  limits.max_archive_bytes = 64 * 1024;
  limits.max_unpacked_bytes = 256 * 1024;
  limits.max_entries = 64;
  const auto dest = fuzz::work_root() / "dest";
  std::error_code ec;
  fs::remove_all(dest, ec);
  FUZZ_CHECK(fs::create_directory(dest, ec));
  auto result = storage::extract_archive(fuzz::as_text(data, size), dest, limits);
  if (result)
    fuzz::check_tree(dest, result, limits);
  else
    FUZZ_CHECK(fs::is_empty(dest, ec) && !ec);
  fs::remove_all(dest, ec);
  FUZZ_CHECK(!ec);
  return 0;
}
