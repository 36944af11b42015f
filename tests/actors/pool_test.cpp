// The pool actor with real templates (troupe-sandbox-init): hits from stock,
// misses made on demand, and templates that fail their health check
// discarded and counted.

#include "actors/pool.hpp"
#include "actors/protocol/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

class PoolTest : public ::testing::Test {
protected:
  struct config : caf::actor_system_config {
    config() { register_troupe_types(*this); }
  };

  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root";
    std::string tmpl = "/tmp/troupe-pool-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.init_path = TROUPE_SANDBOX_INIT;
    opts_.run_dir = dir_ + "/run";
  }

  void TearDown() override {
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
  }

  pool_actor spawn(int32_t min, int32_t max) {
    makers_ = {spawn_template_maker(sys_), spawn_template_maker(sys_)};
    pacer_ = spawn_refill_pacer(sys_, 1000, 10);
    return spawn_pool(sys_, opts_, policy::pool_bounds{min, max, 1.0}, makers_, pacer_);
  }

  pool_stats stats(const pool_actor& pool) {
    pool_stats out;
    self_->request(pool, 5s, stats_atom::value)
        .receive([&](const pool_stats& s) { out = s; },
                 [&](const caf::error& e) { ADD_FAILURE() << sys_.render(e); });
    return out;
  }

  /// Polls until `pred(stats)` holds or 10 s passed.
  template <class Pred> pool_stats wait_for(const pool_actor& pool, Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto s = stats(pool);
    while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
      s = stats(pool);
    }
    return s;
  }

  /// This process's children (of all its threads).
  static std::vector<pid_t> children() {
    std::vector<pid_t> out;
    for (auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream in(task.path() / "children");
      for (pid_t pid; in >> pid;)
        out.push_back(pid);
    }
    return out;
  }

  /// acquire: the template, or nullptr with `error` set.
  std::shared_ptr<runtime::sandbox> acquire(const pool_actor& pool, std::string& error) {
    std::shared_ptr<runtime::sandbox> box;
    self_->request(pool, 15s, acquire_atom::value)
        .receive([&](sandbox_lease& lease) { box = std::move(lease.box); },
                 [&](const caf::error& e) { error = sys_.render(e); });
    return box;
  }

  void stop(const pool_actor& pool) {
    self_->send_exit(pool, caf::exit_reason::user_shutdown);
    for (auto& m : makers_)
      self_->send_exit(m, caf::exit_reason::user_shutdown);
    self_->send_exit(pacer_, caf::exit_reason::user_shutdown);
  }

  config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  std::vector<template_maker_actor> makers_;
  refill_pacer_actor pacer_;
  std::string dir_;
  runtime::sandbox_options opts_;
};

TEST_F(PoolTest, FillsToItsMinimumThenServesHitsAndMisses) {
  auto pool = spawn(2, 2);
  auto s = wait_for(pool, [](const pool_stats& st) { return st.stock == 2; });
  EXPECT_EQ(s.stock, 2);
  EXPECT_EQ(s.made, 2);
  std::vector<std::shared_ptr<runtime::sandbox>> taken;
  std::string error;
  for (int i = 0; i < 4; ++i) { // two from stock, then faster than the refill can keep up
    taken.push_back(acquire(pool, error));
    ASSERT_TRUE(taken.back()) << error;
    EXPECT_TRUE(taken.back()->alive());
  }
  s = stats(pool);
  EXPECT_EQ(s.hits + s.misses, 4);
  EXPECT_GE(s.hits, 2);
  EXPECT_EQ(s.discarded, 0);
  s = wait_for(pool, [](const pool_stats& st) { return st.stock == 2; });
  EXPECT_EQ(s.stock, 2); // refilled
  stop(pool);
}

TEST_F(PoolTest, ATemplateThatDiesInStockIsDiscardedAndCounted) {
  auto pool = spawn(1, 1);
  ASSERT_EQ(wait_for(pool, [](const pool_stats& st) { return st.stock == 1; }).stock, 1);
  // Kill the template's init behind the pool's back.
  std::string error;
  auto box = acquire(pool, error);
  ASSERT_TRUE(box) << error;
  ASSERT_EQ(wait_for(pool, [](const pool_stats& st) { return st.stock == 1; }).stock, 1);
  for (pid_t init : children()) // the inits are this process's children
    if (init != box->pid())
      ::kill(init, SIGKILL); // the one left in stock
  std::this_thread::sleep_for(50ms);
  auto next = acquire(pool, error);
  ASSERT_TRUE(next) << error;
  EXPECT_TRUE(next->alive());
  EXPECT_EQ(stats(pool).discarded, 1);
  stop(pool);
}

TEST_F(PoolTest, AFailedHealthCheckIsDiscardedCountedAndReported) {
  opts_.prestart_argv = {"/bin/sh", "-c", "echo no interpreter here; exit 2"};
  auto pool = spawn(0, 0);
  std::string error;
  EXPECT_FALSE(acquire(pool, error));
  EXPECT_NE(error.find("exit status 2"), std::string::npos) << error;
  EXPECT_NE(error.find("no interpreter here"), std::string::npos) << error;
  auto s = stats(pool);
  EXPECT_EQ(s.discarded, 1);
  EXPECT_EQ(s.made, 0);
  EXPECT_EQ(s.stock, 0);
  stop(pool);
}

TEST_F(PoolTest, RefillsThatKeepFailingBackOff) {
  opts_.prestart_argv = {"/bin/sh", "-c", "exit 2"};
  auto pool = spawn(1, 1);
  std::this_thread::sleep_for(300ms);
  auto s = stats(pool);
  // Retried, but 10 ms doubling: a handful of attempts, not one per make.
  EXPECT_GE(s.discarded, 2);
  EXPECT_LE(s.discarded, 10);
  EXPECT_EQ(s.stock, 0);
  stop(pool);
}

TEST_F(PoolTest, ThePacerMakesCallersBeyondItsBurstWaitForTheirToken) {
  auto pacer = spawn_refill_pacer(sys_, 20, 2); // 2 at once, then one per 50 ms
  int granted = 0;
  for (int i = 0; i < 4; ++i) // the 3rd and 4th wait for the bucket to refill
    self_->request(pacer, 5s, token_atom::value)
        .receive([&](bool ok) { granted += ok ? 1 : 0; },
                 [&](const caf::error& e) { ADD_FAILURE() << sys_.render(e); });
  EXPECT_EQ(granted, 4);
  self_->send_exit(pacer, caf::exit_reason::user_shutdown);
}

} // namespace
