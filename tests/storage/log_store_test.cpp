#include "storage/log_store.hpp"
#include "tests/storage/test_support.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>
#include <vector>

namespace troupe::storage {
namespace {

namespace fs = std::filesystem;

std::string record(int i) {
  return "START " + std::to_string(i) + "\nline of " + std::to_string(i) + "\nEND " +
         std::to_string(i) + "\n";
}

TEST(LogStoreTest, KeepsEachFunctionsRecordsApartAndInOrder) {
  test::temp_dir tmp;
  log_store logs{tmp.path() / "logs", 1 << 20};
  logs.append("acme/a", record(1));
  logs.append("other/a", record(2));
  logs.append("acme/a", record(3));
  EXPECT_EQ(logs.tail("acme/a", 4096), record(1) + record(3));
  EXPECT_EQ(logs.tail("other/a", 4096), record(2));
  EXPECT_EQ(logs.tail("acme/none", 4096), "");
  EXPECT_TRUE(fs::exists(tmp.path() / "logs" / "acme.a.log"));
}

TEST(LogStoreTest, TailBeginsAtALine) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 20};
  logs.append("t/f", "first line\nsecond\nthird\n");
  EXPECT_EQ(logs.tail("t/f", 13), "second\nthird\n"); // exactly two whole lines
  EXPECT_EQ(logs.tail("t/f", 12), "third\n");         // cut in "second": from the next line
  EXPECT_EQ(logs.tail("t/f", 5), "");                 // no whole line fits
  EXPECT_EQ(logs.tail("t/f", 100), "first line\nsecond\nthird\n");
}

TEST(LogStoreTest, IsBoundedPerFunctionAndKeepsTheLatest) {
  test::temp_dir tmp;
  const uint64_t max = 4096;
  log_store logs{tmp.path(), max};
  for (int i = 0; i < 1000; ++i)
    logs.append("t/f", record(i));
  auto tail = logs.tail("t/f", 1 << 20); // once all of it is written
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(tmp.path()))
    on_disk += fs::file_size(e.path());
  // At most the bound, plus the records that took each file over its half.
  EXPECT_LE(on_disk, max + 2 * record(999).size());
  EXPECT_GE(on_disk, max / 2);
  EXPECT_EQ(tail.substr(tail.size() - record(999).size()), record(999));
  EXPECT_EQ(tail.rfind("START 998\n", tail.size() - record(999).size()),
            tail.size() - record(999).size() - record(998).size())
      << "the latest records, whole and in order, across the rotated file";
}

TEST(LogStoreTest, MoreFunctionsThanOpenFilesLoseNothing) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 20, 2}; // two files open at most
  for (int i = 0; i < 30; ++i)
    logs.append("t/f" + std::to_string(i % 3), record(i));
  for (int f = 0; f < 3; ++f) {
    std::string expected;
    for (int i = f; i < 30; i += 3)
      expected += record(i);
    EXPECT_EQ(logs.tail("t/f" + std::to_string(f), 4096), expected) << f;
  }
}

TEST(LogStoreTest, ARecordBeyondThePendingBoundIsDroppedAndCounted) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 20, 64, 10}; // 10 bytes may wait to be written
  logs.append("t/f", record(1));               // longer than that: never queued
  EXPECT_EQ(logs.dropped(), 1u);
  EXPECT_EQ(logs.tail("t/f", 4096), "");
}

TEST(LogStoreTest, WhatIsQueuedAtTheEndIsWritten) {
  test::temp_dir tmp;
  {
    log_store logs{tmp.path(), 1 << 20};
    for (int i = 0; i < 100; ++i)
      logs.append("t/f", record(i));
  } // the destructor writes the queue out
  log_store again{tmp.path(), 1 << 20};
  auto all = again.tail("t/f", 1 << 20);
  EXPECT_EQ(all.substr(0, record(0).size()), record(0));
  EXPECT_EQ(all.substr(all.size() - record(99).size()), record(99));
}

TEST(LogStoreTest, TailDoesNotWaitForTheLinger) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 20, 64, 16 << 20, std::chrono::hours(1)};
  logs.append("t/f", record(1));
  EXPECT_EQ(logs.tail("t/f", 4096), record(1)); // tail() gives up on the writer after 2 s
  logs.append("t/f", record(2));
  EXPECT_EQ(logs.tail("t/f", 4096), record(1) + record(2));
}

TEST(LogStoreTest, ALoneRecordReachesTheFileAfterTheLinger) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 20, 64, 16 << 20, std::chrono::milliseconds(20)};
  logs.append("t/f", record(1));
  auto file = tmp.path() / "t.f.log";
  for (int i = 0; i < 500 && test::read_file(file) != record(1); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(test::read_file(file), record(1)); // no tail() asked for it
}

TEST(LogStoreTest, RecordsFromManyThreadsStayWhole) {
  test::temp_dir tmp;
  log_store logs{tmp.path(), 1 << 24};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        logs.append("t/f", record(t * 1000 + i));
    });
  for (auto& t : ts)
    t.join();
  std::istringstream in{logs.tail("t/f", 1 << 24)};
  std::string start, line, end;
  int n = 0;
  while (std::getline(in, start) && std::getline(in, line) && std::getline(in, end)) {
    auto id = start.substr(6);
    EXPECT_EQ(line, "line of " + id);
    EXPECT_EQ(end, "END " + id);
    ++n;
  }
  EXPECT_EQ(n, 800);
}

} // namespace
} // namespace troupe::storage
