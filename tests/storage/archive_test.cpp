#include "storage/archive.hpp"
#include "tests/storage/test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using test::archive_format;
using test::build_archive;
using test::test_entry;

class ArchiveTest : public ::testing::Test {
protected:
  void SetUp() override { fs::create_directory(dest()); }

  fs::path dest() const { return tmp_.path() / "dest"; }

  extract_result extract(const std::string& bytes, archive_limits limits = {}) {
    return extract_archive(bytes, dest(), limits);
  }

  /// Extraction must fail with a message containing `needle`, leaving dest empty.
  void expect_refused(const std::string& bytes, const std::string& needle,
                      archive_limits limits = {}) {
    auto r = extract(bytes, limits);
    EXPECT_FALSE(r);
    EXPECT_NE(r.error.find(needle), std::string::npos) << "error: " << r.error;
    EXPECT_TRUE(fs::is_directory(dest()));
    EXPECT_TRUE(test::tree(dest()).empty()) << "dest not emptied after: " << r.error;
  }

  static mode_t perm_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  /// Runs a shell command inside `dir`; true if it exited 0.
  static bool run_in(const fs::path& dir, const std::string& cmd) {
    return std::system(("cd '" + dir.string() + "' && " + cmd + " >/dev/null 2>&1").c_str()) == 0;
  }

  /// A small tree with an executable, made on disk for the zip/cmake tools.
  fs::path make_source_tree() {
    auto src = tmp_.path() / "src";
    fs::create_directories(src / "bin");
    fs::create_directories(src / "lib" / "deep");
    std::system(("printf '#!/bin/sh\\n' > '" + (src / "bin" / "run").string() + "'").c_str());
    fs::permissions(src / "bin" / "run", fs::perms(0755));
    std::system(("printf data > '" + (src / "lib" / "deep" / "d.txt").string() + "'").c_str());
    fs::permissions(src / "lib" / "deep" / "d.txt", fs::perms(0644));
    return src;
  }

  void expect_source_tree_extracted() {
    EXPECT_EQ(test::read_file(dest() / "bin" / "run"), "#!/bin/sh\n");
    EXPECT_EQ(perm_of(dest() / "bin" / "run"), 0755u);
    EXPECT_EQ(test::read_file(dest() / "lib" / "deep" / "d.txt"), "data");
    EXPECT_EQ(perm_of(dest() / "lib" / "deep" / "d.txt"), 0644u);
  }

  test::temp_dir tmp_;
};

TEST_F(ArchiveTest, ExtractsNestedZipAndKeepsOnlyTheExecutableBit) {
  auto private_dir = test::dir("app/");
  private_dir.perm = 0700;
  auto zip = build_archive(archive_format::zip,
                           {private_dir, test::file("app/bin/start", "#!/bin/sh\n", 0700),
                            test::file("app/lib/a/b/c.txt", "hello", 0600),
                            test::file("./top.txt", "top", 0666)});
  auto r = extract(zip);
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(r.files, 3u);
  EXPECT_EQ(r.unpacked_bytes, 10u + 5u + 3u);
  EXPECT_EQ(test::read_file(dest() / "app/lib/a/b/c.txt"), "hello");
  EXPECT_EQ(perm_of(dest() / "app"), 0755u);
  EXPECT_EQ(perm_of(dest() / "app/lib/a"), 0755u);
  EXPECT_EQ(perm_of(dest() / "app/bin/start"), 0755u);
  EXPECT_EQ(perm_of(dest() / "app/lib/a/b/c.txt"), 0644u);
  EXPECT_EQ(perm_of(dest() / "top.txt"), 0644u);
}

TEST_F(ArchiveTest, ExtractsTarGzWithInternalSymlink) {
  auto tgz = build_archive(archive_format::tar_gz,
                           {test::file("v1/lib.so", "elf", 0755), test::symlink("current", "v1"),
                            test::symlink("v1/self", "../v1/lib.so")});
  auto r = extract(tgz);
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(fs::read_symlink(dest() / "current"), "v1");
  EXPECT_EQ(test::read_file(dest() / "current" / "lib.so"), "elf");
  EXPECT_EQ(perm_of(dest() / "v1/lib.so"), 0755u);
}

TEST_F(ArchiveTest, ExtractsZipMadeByZipTool) {
  auto src = make_source_tree();
  if (!run_in(src, "zip -qr ../tool.zip bin lib"))
    GTEST_SKIP() << "zip tool not available";
  auto r = extract(test::read_file(tmp_.path() / "tool.zip"));
  ASSERT_TRUE(r) << r.error;
  expect_source_tree_extracted();
}

TEST_F(ArchiveTest, ExtractsZipMadeByCmakeTar) {
  auto src = make_source_tree();
  ASSERT_TRUE(run_in(src, "'" TROUPE_CMAKE_COMMAND "' -E tar cf ../cm.zip --format=zip bin lib"));
  auto r = extract(test::read_file(tmp_.path() / "cm.zip"));
  ASSERT_TRUE(r) << r.error;
  expect_source_tree_extracted();
}

TEST_F(ArchiveTest, RefusesParentComponents) {
  expect_refused(build_archive(archive_format::zip, {test::file("../evil", "x")}), "'../evil'");
  expect_refused(build_archive(archive_format::tar, {test::file("a/../../evil", "x")}),
                 "'..' path component");
  expect_refused(
      build_archive(archive_format::tar, {test::file("ok", "fine"), test::file("a/b/..", "x")}),
      "'a/b/..'");
}

TEST_F(ArchiveTest, RefusesAbsolutePath) {
  expect_refused(build_archive(archive_format::tar, {test::file("/tmp/abs", "x")}),
                 "absolute path");
}

TEST_F(ArchiveTest, RefusesFileWithEmptyNormalisedName) {
  expect_refused(build_archive(archive_format::tar, {test::file(".", "x")}), "'.': empty name");
  expect_refused(build_archive(archive_format::tar, {test::file("", "x")}), "#1: empty name");
}

TEST_F(ArchiveTest, RefusesSymlinksLeavingDestination) {
  expect_refused(build_archive(archive_format::zip, {test::symlink("etc", "/etc")}),
                 "'/etc' leaves the destination");
  expect_refused(build_archive(archive_format::tar, {test::symlink("a/b", "../../x")}), "'a/b'");
  expect_refused(
      build_archive(archive_format::tar, {test::symlink("a", ".."), test::file("a/x", "x")}),
      "leaves the destination");
}

TEST_F(ArchiveTest, RefusesSymlinkChainThatLeavesTogether) {
  // Each target stays inside lexically; together e -> d/.. -> (b/c)/.. -> (b/..)/.. escapes.
  expect_refused(
      build_archive(archive_format::tar, {test::symlink("e", "d/.."), test::symlink("d", "b/c"),
                                          test::symlink("b/c", "..")}),
      "through other symlinks");
}

TEST_F(ArchiveTest, RefusesSymlinkLoops) {
  expect_refused(
      build_archive(archive_format::tar, {test::symlink("a", "b"), test::symlink("b", "a")}),
      "'a': symlink target 'b' loops");
}

TEST_F(ArchiveTest, RefusesWritingThroughAnInternalSymlink) {
  expect_refused(build_archive(archive_format::tar, {test::dir("sub/"), test::symlink("a", "sub"),
                                                     test::file("a/x", "x")}),
                 "'a/x': path component 'a': is a symlink");
}

TEST_F(ArchiveTest, RefusesHardLinksAndSpecialFiles) {
  expect_refused(
      build_archive(archive_format::tar,
                    {test::file("f", "x"), test::special(test_entry::hardlink, "h", "f")}),
      "'h': hard links");
  expect_refused(build_archive(archive_format::tar, {test::special(test_entry::fifo, "pipe")}),
                 "'pipe': device, fifo");
  expect_refused(
      build_archive(archive_format::tar, {test::special(test_entry::char_device, "null")}),
      "'null': device");
}

TEST_F(ArchiveTest, RefusesDuplicateEntries) {
  expect_refused(
      build_archive(archive_format::tar, {test::file("f", "one"), test::file("./f", "two")}),
      "'./f': duplicate entry");
  expect_refused(build_archive(archive_format::zip, {test::dir("d/"), test::file("d", "file")}),
                 "duplicate entry");
}

TEST_F(ArchiveTest, RefusesTooManyEntries) {
  std::vector<test_entry> entries;
  for (int i = 0; i < 11; ++i)
    entries.push_back(test::file("f" + std::to_string(i), "x"));
  archive_limits limits;
  limits.max_entries = 10;
  expect_refused(build_archive(archive_format::zip, entries), "more than 10 entries", limits);
  entries.pop_back();
  EXPECT_TRUE(extract(build_archive(archive_format::zip, entries), limits));
}

TEST_F(ArchiveTest, RefusesOversizedArchive) {
  archive_limits limits;
  limits.max_archive_bytes = 100;
  expect_refused(build_archive(archive_format::tar, {test::file("f", "x")}),
                 "exceeds the limit of 100 bytes", limits);
}

TEST_F(ArchiveTest, CountsRealBytesOfZipBombWithLyingSize) {
  auto zip = build_archive(archive_format::zip, {test::zeros("bomb", 300ull << 20, true)});
  ASSERT_LT(zip.size(), 2u << 20); // deflate squeezes 300 MB of zeros
  test::patch_zip_uncompressed_sizes(zip, 10);
  archive_limits limits;
  limits.max_unpacked_bytes = 1 << 20;
  expect_refused(zip, "unpacked size exceeds the limit of 1048576 bytes", limits);
}

TEST_F(ArchiveTest, CountsRealBytesWhenSizeIsAbsent) {
  auto zip = build_archive(archive_format::zip,
                           {test::file("small", "ok"), test::zeros("bomb", 300ull << 20, true)});
  archive_limits limits;
  limits.max_unpacked_bytes = 1 << 20;
  expect_refused(zip, "exceeds the limit", limits);
}

TEST_F(ArchiveTest, RefusesBytesThatAreNoArchive) {
  expect_refused("this is certainly not a zip file, nor a tarball", "not a readable");
  expect_refused("", "not a readable");
}

TEST_F(ArchiveTest, RefusesNonEmptyDestinationWithoutTouchingIt) {
  fs::create_directory(dest() / "keep");
  auto r = extract(build_archive(archive_format::zip, {test::file("f", "x")}));
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("not an existing empty directory"), std::string::npos);
  EXPECT_EQ(test::tree(dest()), std::vector<std::string>{"keep"});
}

} // namespace
} // namespace troupe::storage
