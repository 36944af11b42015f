#include "storage/kv_store.hpp"
#include "tests/storage/test_support.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace troupe::storage {
namespace {

class KvStoreTest : public ::testing::Test {
protected:
  std::unique_ptr<kv_store> open() {
    std::string error;
    auto store = open_rocksdb_store((tmp_.path() / "db").string(), error);
    EXPECT_TRUE(store) << error;
    return store;
  }

  using pairs = std::vector<std::pair<std::string, std::string>>;

  static pairs scan_all(const kv_store& store, std::string_view prefix, size_t limit = 100) {
    pairs out;
    store.scan(prefix, [&](std::string_view k, std::string_view v) {
      out.emplace_back(k, v);
      return out.size() < limit;
    });
    return out;
  }

  test::temp_dir tmp_;
};

TEST_F(KvStoreTest, PutGetErase) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->get("fn/a"));
  EXPECT_EQ(store->put("fn/a", "one"), "");
  EXPECT_EQ(store->get("fn/a"), "one");
  EXPECT_EQ(store->put("fn/a", std::string("t\0o", 3)), "");
  EXPECT_EQ(store->get("fn/a"), std::string("t\0o", 3));
  EXPECT_EQ(store->erase("fn/a"), "");
  EXPECT_FALSE(store->get("fn/a"));
  EXPECT_EQ(store->erase("never/there"), "");
}

TEST_F(KvStoreTest, ScanVisitsPrefixInKeyOrderAndStopsOnFalse) {
  auto store = open();
  ASSERT_TRUE(store);
  for (auto k : {"fn/b", "fm/z", "fn/a", "fn/c", "fo/a", "fn"})
    ASSERT_EQ(store->put(k, std::string("v-") + k), "");
  EXPECT_EQ(scan_all(*store, "fn/"),
            (pairs{{"fn/a", "v-fn/a"}, {"fn/b", "v-fn/b"}, {"fn/c", "v-fn/c"}}));
  EXPECT_EQ(scan_all(*store, "fn/", 2).size(), 2u);
  EXPECT_TRUE(scan_all(*store, "zz").empty());
  EXPECT_EQ(scan_all(*store, "").size(), 6u);
}

TEST_F(KvStoreTest, PersistsAcrossReopen) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_EQ(store->put("k1", "v1"), "");
    ASSERT_EQ(store->put("k2", "v2"), "");
    ASSERT_EQ(store->erase("k2"), "");
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get("k1"), "v1");
  EXPECT_FALSE(store->get("k2"));
}

TEST_F(KvStoreTest, BatchAppliesPutsAndErasesInOrderAndPersists) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_EQ(store->put("pl/old", "x"), "");
    EXPECT_EQ(store->write({{"pl/1", "placed"},
                            {"pl/old", std::nullopt},
                            {"pl/2", "placed"},
                            {"pl/1", "ready"},
                            {"pl/2", std::nullopt}}),
              "");
    EXPECT_EQ(store->write({}), "");
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(scan_all(*store, "pl/"), (pairs{{"pl/1", "ready"}}));
}

TEST_F(KvStoreTest, ABufferedWriteSurvivesTheProcessBeingKilled) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) { // writes without flushing the WAL, then dies without closing
    auto store = open();
    bool ok = store && store->write({{"pl/1", "ready"}}, durability::buffered).empty();
    if (!ok)
      _exit(1);
    raise(SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get("pl/1"), "ready");
}

TEST_F(KvStoreTest, OpenErrorsAreReported) {
  auto first = open();
  ASSERT_TRUE(first);
  std::string error;
  EXPECT_FALSE(open_rocksdb_store((tmp_.path() / "db").string(), error)); // locked
  EXPECT_NE(error.find("cannot open RocksDB store"), std::string::npos) << error;
  error.clear();
  test::temp_dir other;
  std::string file = (other.path() / "plain-file").string();
  ASSERT_EQ(first->put("x", "y"), "");
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_TRUE(f);
  std::fclose(f);
  EXPECT_FALSE(open_rocksdb_store(file, error));
  EXPECT_FALSE(error.empty());
}

} // namespace
} // namespace troupe::storage
