// The package format (index + content), the package store and the cache
// that fills it chunk by chunk through a fetcher.
#include "storage/package.hpp"
#include "storage/package_fs.hpp"
#include "storage/package_store.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <random>
#include <thread>

namespace troupe::storage {
namespace {

using namespace test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen{seed};
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(gen());
  return out;
}

/// An archive with a nested tree, an executable, a symlink and a file big
/// enough to span several chunks.
std::string sample_archive() {
  return build_archive(archive_format::zip,
                       {file("bootstrap", "#!/bin/sh\necho hi\n", 0755), dir("lib"),
                        file("lib/big.bin", random_bytes(700 * 1024, 7)),
                        file("lib/small.txt", "small"), symlink("current", "lib/small.txt"),
                        dir("empty")});
}

/// The content bytes of `path` in a package, read from a store.
std::string file_bytes(const package_store& store, const std::string& digest,
                       const std::string& path) {
  auto index = store.index(digest);
  auto* e = index ? index->find(path) : nullptr;
  if (!e)
    return "<missing>";
  return store.read(digest, e->offset, e->size).value_or("<unreadable>");
}

TEST(Package, AnArchiveBecomesAnIndexAndAContentFileThatRoundTrip) {
  temp_dir dir;
  auto built = build_package(sample_archive(), dir.path() / "content", {});
  ASSERT_TRUE(built) << built.error;
  EXPECT_EQ(built.digest_hex, package_digest(built.encoded_index));
  std::string why;
  auto index = decode_index(built.encoded_index, &why);
  ASSERT_TRUE(index) << why;
  std::vector<std::string> paths;
  for (auto& e : index->entries)
    paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"bootstrap", "current", "empty", "lib", "lib/big.bin",
                                             "lib/small.txt"}));
  EXPECT_EQ(index->find("bootstrap")->mode, 0755u);
  EXPECT_EQ(index->find("lib/small.txt")->mode, 0644u);
  EXPECT_EQ(index->find("lib")->type, package_entry::kind::directory);
  EXPECT_EQ(index->find("current")->type, package_entry::kind::symlink);
  EXPECT_EQ(index->find("current")->target, "lib/small.txt");
  EXPECT_EQ(index->find("nope"), nullptr);
  auto content = read_file(dir.path() / "content");
  EXPECT_EQ(content.size(), index->content_bytes);
  auto* big = index->find("lib/big.bin");
  EXPECT_EQ(content.substr(big->offset, big->size), random_bytes(700 * 1024, 7));
  EXPECT_EQ(big->digest, sha256(random_bytes(700 * 1024, 7)));
  EXPECT_EQ(index->chunk_count(),
            (index->content_bytes + index->chunk_bytes - 1) / index->chunk_bytes);
  EXPECT_GE(index->chunk_count(), 3u);
  for (uint64_t i = 0; i < index->chunk_count(); ++i)
    EXPECT_EQ(
        sha256(std::string_view{content}.substr(i * index->chunk_bytes, index->chunk_length(i))),
        index->chunks[i]);
  EXPECT_EQ(encode_index(*index), built.encoded_index);
}

TEST(Package, ARefusedArchiveWritesNothing) {
  temp_dir dir;
  auto evil = build_archive(archive_format::zip, {file("ok", "x"), file("../escape", "y")});
  auto built = build_package(evil, dir.path() / "content", {});
  EXPECT_FALSE(built);
  EXPECT_NE(built.error.find("'..'"), std::string::npos) << built.error;
  EXPECT_TRUE(tree(dir.path()).empty());
  archive_limits tiny;
  tiny.max_unpacked_bytes = 1000;
  built = build_package(sample_archive(), dir.path() / "content", tiny);
  EXPECT_FALSE(built);
  EXPECT_NE(built.error.find("limit"), std::string::npos) << built.error;
  EXPECT_TRUE(tree(dir.path()).empty());
}

TEST(Package, AMalformedIndexIsRefusedWithAReason) {
  temp_dir dir;
  auto built = build_package(sample_archive(), dir.path() / "content", {});
  ASSERT_TRUE(built);
  auto good = decode_index(built.encoded_index);
  ASSERT_TRUE(good);
  std::string why;
  EXPECT_FALSE(decode_index("nonsense", &why));
  EXPECT_NE(why.find("magic"), std::string::npos);
  EXPECT_FALSE(decode_index(built.encoded_index.substr(0, built.encoded_index.size() - 3), &why));
  EXPECT_NE(why.find("truncated"), std::string::npos) << why;
  auto unsorted = *good;
  std::swap(unsorted.entries[0], unsorted.entries[1]);
  EXPECT_FALSE(decode_index(encode_index(unsorted), &why));
  EXPECT_NE(why.find("sorted"), std::string::npos) << why;
  auto escaping = *good;
  escaping.entries[0].path = "../bootstrap";
  EXPECT_FALSE(decode_index(encode_index(escaping), &why));
  EXPECT_NE(why.find("unsafe"), std::string::npos) << why;
  auto outside = *good;
  for (auto& e : outside.entries)
    if (e.path == "lib/small.txt")
      e.size = outside.content_bytes + 1;
  EXPECT_FALSE(decode_index(encode_index(outside), &why));
  EXPECT_NE(why.find("outside"), std::string::npos) << why;
  auto orphan = *good;
  orphan.entries.erase(orphan.entries.begin() + 3); // "lib"
  EXPECT_FALSE(decode_index(encode_index(orphan), &why));
  EXPECT_NE(why.find("parent"), std::string::npos) << why;
}

TEST(PackageStore, IdenticalUploadsShareOnePackageAndARestartKeepsIt) {
  temp_dir dir;
  std::string digest;
  {
    package_store store{dir.path()};
    auto a = store.put_archive(sample_archive(), {});
    auto b = store.put_archive(sample_archive(), {});
    ASSERT_TRUE(a && b) << a.error << b.error;
    EXPECT_EQ(a.digest_hex, b.digest_hex);
    digest = a.digest_hex;
    EXPECT_EQ(store.list(), std::vector<std::string>{digest});
    EXPECT_EQ(tree(dir.path()), (std::vector<std::string>{digest + ".content", digest + ".index"}));
  }
  package_store again{dir.path()};
  EXPECT_TRUE(again.complete(digest));
  EXPECT_EQ(file_bytes(again, digest, "lib/small.txt"), "small");
  temp_dir out;
  ASSERT_EQ(again.materialize(digest, out.path()), "");
  EXPECT_EQ(read_file(out.path() / "lib/big.bin"), random_bytes(700 * 1024, 7));
  EXPECT_EQ(fs::read_symlink(out.path() / "current"), "lib/small.txt");
  EXPECT_EQ(fs::status(out.path() / "bootstrap").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  EXPECT_TRUE(fs::is_directory(out.path() / "empty"));
}

/// A fetcher that serves from an origin store, on a thread of its own (as
/// a network answer arrives), and can be told to corrupt or fail answers.
class origin_fetcher : public package_fetcher {
public:
  explicit origin_fetcher(package_store& origin) : origin_(origin) {}
  ~origin_fetcher() override {
    for (auto& t : threads_)
      t.join();
  }

  void fetch_index(const std::string& digest, done_fn done) override {
    ++index_fetches;
    auto encoded = origin_.encoded_index(digest);
    later([=] { done(encoded.value_or(""), encoded ? "" : "no such package"); });
  }
  void fetch_chunk(const std::string& digest, uint64_t chunk, int attempt, done_fn done) override {
    ++chunk_fetches;
    auto index = origin_.index(digest);
    auto bytes = origin_.read(digest, chunk * index->chunk_bytes, index->chunk_length(chunk));
    later([=]() mutable {
      if (gate.valid())
        gate.wait_for(10s);
      if (fail_always)
        return done({}, "origin unreachable");
      if (attempt < corrupt_first && bytes)
        (*bytes)[0] ^= 0x5a;
      done(bytes.value_or(""), bytes ? "" : "unreadable");
    });
  }

  std::atomic<int> index_fetches{0}, chunk_fetches{0};
  int corrupt_first = 0; ///< corrupt the answers of attempts below this
  bool fail_always = false;
  std::shared_future<void> gate; ///< answers wait for it when set

private:
  template <class F> void later(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(std::move(f));
  }
  package_store& origin_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

struct PackageCache : ::testing::Test {
  void SetUp() override {
    auto built = origin.put_archive(sample_archive(), {});
    ASSERT_TRUE(built) << built.error;
    digest = built.digest_hex;
  }
  std::string prepare(package_cache& cache, bool whole) {
    std::promise<std::string> p;
    cache.prepare(digest, whole, [&](std::string err) { p.set_value(std::move(err)); });
    auto f = p.get_future();
    return f.wait_for(10s) == std::future_status::ready ? f.get() : "timed out";
  }
  std::string read(package_cache& cache, const std::string& path) {
    auto* e = cache.index(digest)->find(path);
    std::string out(e->size, '\0');
    int rc = cache.read(digest, e->offset, e->size, out.data());
    return rc == 0 ? out : "errno " + std::to_string(rc);
  }

  temp_dir origin_dir, cache_dir;
  package_store origin{origin_dir.path()};
  std::string digest;
};

TEST_F(PackageCache, AReadFetchesOnlyTheChunksUnderIt) {
  package_store store{cache_dir.path()};
  origin_fetcher fetcher{origin};
  package_cache cache{store, fetcher};
  ASSERT_EQ(prepare(cache, false), "");
  EXPECT_EQ(fetcher.chunk_fetches, 0); // the index alone: metadata without content
  EXPECT_EQ(read(cache, "lib/small.txt"), "small");
  EXPECT_EQ(fetcher.chunk_fetches, 1);
  EXPECT_FALSE(store.complete(digest));
  EXPECT_EQ(read(cache, "lib/big.bin"), random_bytes(700 * 1024, 7));
  auto total = static_cast<int>(store.index(digest)->chunk_count());
  EXPECT_LE(fetcher.chunk_fetches, total);
  EXPECT_EQ(read(cache, "lib/big.bin"), random_bytes(700 * 1024, 7)); // now local
  EXPECT_LE(fetcher.chunk_fetches, total);
  EXPECT_EQ(fetcher.index_fetches, 1);
}

TEST_F(PackageCache, ACorruptChunkIsDetectedAndFetchedAgain) {
  package_store store{cache_dir.path()};
  origin_fetcher fetcher{origin};
  fetcher.corrupt_first = 2;
  package_cache cache{store, fetcher};
  ASSERT_EQ(prepare(cache, true), "");
  EXPECT_TRUE(store.complete(digest));
  auto chunks = store.index(digest)->chunk_count();
  EXPECT_EQ(cache.stats().corrupt_chunks, 2 * chunks);
  EXPECT_EQ(cache.stats().chunks_fetched, chunks);
  EXPECT_EQ(read(cache, "lib/big.bin"), random_bytes(700 * 1024, 7));
  // Complete, it survives a restart as a package of its own.
  package_store again{cache_dir.path()};
  EXPECT_TRUE(again.complete(digest));
}

TEST_F(PackageCache, AChunkThatCannotBeHadFailsItsReadersWithEioNotAHang) {
  package_store store{cache_dir.path()};
  origin_fetcher fetcher{origin};
  package_cache cache{store, fetcher, 3};
  ASSERT_EQ(prepare(cache, false), "");
  fetcher.fail_always = true;
  EXPECT_EQ(read(cache, "lib/small.txt"), "errno " + std::to_string(EIO));
  EXPECT_EQ(cache.stats().failed_fetches, 3u);
  fetcher.corrupt_first = 100; // now every answer is corrupt
  fetcher.fail_always = false;
  EXPECT_EQ(read(cache, "lib/small.txt"), "errno " + std::to_string(EIO));
}

TEST_F(PackageCache, ConcurrentFirstReadsOfOneChunkCauseOneFetch) {
  package_store store{cache_dir.path()};
  origin_fetcher fetcher{origin};
  std::promise<void> open;
  fetcher.gate = open.get_future().share();
  package_cache cache{store, fetcher};
  ASSERT_EQ(prepare(cache, false), "");
  std::vector<std::future<std::string>> readers;
  for (int i = 0; i < 8; ++i)
    readers.push_back(std::async(std::launch::async, [&] { return read(cache, "lib/small.txt"); }));
  std::this_thread::sleep_for(100ms); // let them all ask before the answer comes
  open.set_value();
  for (auto& r : readers) {
    ASSERT_EQ(r.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(r.get(), "small");
  }
  EXPECT_EQ(fetcher.chunk_fetches, 1);
}

TEST_F(PackageCache, ARestartDropsAPartlyFilledPackage) {
  {
    package_store store{cache_dir.path()};
    origin_fetcher fetcher{origin};
    package_cache cache{store, fetcher};
    ASSERT_EQ(prepare(cache, false), "");
    EXPECT_EQ(read(cache, "lib/small.txt"), "small");
  }
  package_store again{cache_dir.path()};
  EXPECT_FALSE(again.contains(digest));
  EXPECT_TRUE(tree(cache_dir.path()).empty());
}

TEST_F(PackageCache, ThroughTheFuseViewAFirstReadFetchesAndALaterOneIsLocal) {
  if (!package_fs::available())
    GTEST_SKIP() << "no /dev/fuse here";
  package_store store{cache_dir.path()};
  origin_fetcher fetcher{origin};
  package_cache cache{store, fetcher};
  ASSERT_EQ(prepare(cache, false), "");
  temp_dir mount_dir;
  std::string error;
  auto fs_view = package_fs::mount(mount_dir.path() / "mnt", cache, &error);
  ASSERT_TRUE(fs_view) << error;
  auto dir = fs_view->dir(digest);
  EXPECT_EQ(fs::file_size(dir / "lib/big.bin"), 700u * 1024); // metadata alone
  EXPECT_EQ(fetcher.chunk_fetches, 0);
  EXPECT_EQ(read_file(dir / "lib/small.txt"), "small");
  EXPECT_GE(fetcher.chunk_fetches, 1);
  EXPECT_EQ(read_file(dir / "lib/big.bin"), random_bytes(700 * 1024, 7));
  auto fetched = fetcher.chunk_fetches.load();
  EXPECT_EQ(read_file(dir / "lib/big.bin"), random_bytes(700 * 1024, 7));
  EXPECT_EQ(fetcher.chunk_fetches, fetched); // the page cache, or the local copy
  EXPECT_EQ(fs::read_symlink(dir / "current"), "lib/small.txt");
  fs_view->stop();
}

TEST(PackageStoreEviction, TheLeastRecentlyUsedUnpinnedPackageGoesNeverAPinnedOne) {
  temp_dir dir;
  auto archive = [](int i) {
    return build_archive(archive_format::zip, {file("f", random_bytes(100 * 1024, i))});
  };
  package_store store{dir.path(), 250 * 1024};
  auto a = store.put_archive(archive(1), {});
  auto b = store.put_archive(archive(2), {});
  ASSERT_TRUE(a && b);
  store.pin(a.digest_hex);   // a is in use
  store.index(b.digest_hex); // b is the more recent, but a is pinned
  auto c = store.put_archive(archive(3), {});
  ASSERT_TRUE(c);
  EXPECT_TRUE(store.contains(a.digest_hex));
  EXPECT_FALSE(store.contains(b.digest_hex));
  EXPECT_TRUE(store.contains(c.digest_hex));
  EXPECT_EQ(store.evictions(), 1u);
  store.pin(c.digest_hex);
  auto d = store.put_archive(archive(4), {}); // everything else is pinned: over the bound
  ASSERT_TRUE(d);
  EXPECT_TRUE(store.contains(a.digest_hex) && store.contains(c.digest_hex));
  store.unpin(a.digest_hex); // no longer in use: now it can give way
  EXPECT_FALSE(store.contains(a.digest_hex));
  EXPECT_LE(store.bytes(), 250u * 1024);
}

} // namespace
} // namespace troupe::storage
