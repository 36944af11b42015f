#include "storage/code_store.hpp"
#include "tests/storage/test_support.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;
using test::archive_format;
using test::build_archive;
using test::test_entry;

class CodeStoreTest : public ::testing::Test {
protected:
  fs::path root() const { return tmp_.path() / "packages"; }

  static std::string good_zip() {
    return build_archive(archive_format::zip, {test::file("bin/run", "#!/bin/sh\n", 0755),
                                               test::file("README", "hi", 0644)});
  }

  test::temp_dir tmp_;
};

TEST(DigestTest, Sha256OfKnownInputs) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(CodeStoreTest, PutExtractsUnderDigestAndIsIdempotent) {
  code_store store(root(), archive_limits{});
  auto zip = good_zip();
  auto first = store.put(zip);
  ASSERT_TRUE(first) << first.error;
  EXPECT_EQ(first.digest_hex, to_hex(sha256(zip)));
  EXPECT_EQ(first.dir, root() / first.digest_hex);
  EXPECT_EQ(first.archive_bytes, zip.size());
  EXPECT_EQ(first.files, 2u);
  EXPECT_EQ(first.unpacked_bytes, 12u);
  EXPECT_EQ(test::read_file(first.dir / "bin/run"), "#!/bin/sh\n");
  EXPECT_TRUE(store.contains(first.digest_hex));

  auto second = store.put(zip);
  ASSERT_TRUE(second) << second.error;
  EXPECT_EQ(second.dir, first.dir);
  EXPECT_EQ(second.files, 2u);
  EXPECT_EQ(second.unpacked_bytes, 12u);
  // <hex>, <hex>/README, <hex>/bin, <hex>/bin/run, and <hex>.archive
  EXPECT_EQ(test::tree(root()).size(), 5u);
}

// A node without the package fetches it as the archive that was uploaded.
TEST_F(CodeStoreTest, KeepsTheArchiveForNodesThatFetchIt) {
  code_store store(root(), archive_limits{});
  auto zip = good_zip();
  auto p = store.put(zip);
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(store.archive(p.digest_hex), zip);
  EXPECT_EQ(store.list(), std::vector<std::string>{p.digest_hex}); // not the archive file
  EXPECT_EQ(store.archive(to_hex(sha256("other"))), std::nullopt);
  EXPECT_EQ(store.archive("../" + p.digest_hex), std::nullopt);
  code_store other(tmp_.path() / "elsewhere", archive_limits{});
  auto copy = other.put(*store.archive(p.digest_hex));
  ASSERT_TRUE(copy) << copy.error;
  EXPECT_EQ(copy.digest_hex, p.digest_hex);
}

TEST_F(CodeStoreTest, RefusedArchiveLeavesNothingBehind) {
  code_store store(root(), archive_limits{});
  auto bad =
      build_archive(archive_format::tar, {test::file("ok", "x"), test::file("../evil", "x")});
  auto r = store.put(bad);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("'../evil'"), std::string::npos) << r.error;
  EXPECT_TRUE(test::tree(root()).empty());
  EXPECT_FALSE(store.contains(to_hex(sha256(bad))));
  EXPECT_FALSE(fs::exists(tmp_.path() / "evil"));
}

TEST_F(CodeStoreTest, OversizedArchiveIsRefusedBeforeHashing) {
  archive_limits limits;
  limits.max_archive_bytes = 10;
  code_store store(root(), limits);
  auto r = store.put(good_zip());
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("exceeds the limit of 10 bytes"), std::string::npos) << r.error;
  EXPECT_TRUE(r.digest_hex.empty());
  EXPECT_TRUE(test::tree(root()).empty());
}

TEST_F(CodeStoreTest, ConstructionRemovesStaleTempDirs) {
  fs::create_directories(root() / ".tmp-abc-123" / "half" / "done");
  fs::create_directories(root() / "keepme");
  code_store store(root(), archive_limits{});
  EXPECT_FALSE(fs::exists(root() / ".tmp-abc-123"));
  EXPECT_TRUE(fs::exists(root() / "keepme"));
}

TEST_F(CodeStoreTest, RemoveDeletesPackageAndIgnoresBadNames) {
  code_store store(root(), archive_limits{});
  auto p = store.put(good_zip());
  ASSERT_TRUE(p) << p.error;
  fs::create_directories(tmp_.path() / "victim");
  store.remove("../victim");
  EXPECT_TRUE(fs::exists(tmp_.path() / "victim"));
  EXPECT_FALSE(store.contains("../victim"));
  store.remove(p.digest_hex);
  EXPECT_FALSE(store.contains(p.digest_hex));
  EXPECT_FALSE(fs::exists(p.dir));
  EXPECT_TRUE(test::tree(root()).empty()); // the archive went with it
}

TEST_F(CodeStoreTest, ConcurrentPutsOfOneArchiveAgree) {
  code_store store(root(), archive_limits{});
  auto zip = good_zip();
  std::vector<stored_package> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results)
    threads.emplace_back([&store, &zip, &r] { r = store.put(zip); });
  for (auto& t : threads)
    t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.dir, results[0].dir);
  }
  EXPECT_EQ(test::tree(root()).size(), 5u); // the package and its archive: no temp left over
}

} // namespace
} // namespace troupe::storage
