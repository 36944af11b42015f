// The scheduler actor over a real RocksDB: a placement is on disk before it is
// answered, every state transition of an instance is recorded, and a
// restarted scheduler squares its records with what hosts report.

#include "actors/protocol/errc.hpp"
#include "actors/protocol/type_ids.hpp"
#include "actors/registry_codec.hpp"
#include "actors/scheduler.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A host that is only placed on: launches are not asked of it here.
host_actor::behavior_type quiet_host() {
  return {
      [](launch_atom, const std::string&, const function_config&, const router_actor&)
          -> caf::result<instance_actor> { return caf::sec::unexpected_message; },
      [](drain_atom, bool) {},
      [](orphan_atom, const std::string&) {},
      [](logs_atom, const std::string&, int32_t) { return std::string{}; },
      [](instances_atom) { return std::vector<instance_status>{}; },
  };
}

/// A host that passes on the orphans it is told of, to `sink`.
host_actor::behavior_type reporting_host(caf::actor sink) {
  return {
      [](launch_atom, const std::string&, const function_config&, const router_actor&)
          -> caf::result<instance_actor> { return caf::sec::unexpected_message; },
      [](drain_atom, bool) {},
      [=](orphan_atom, const std::string& id) { caf::anon_send(sink, orphan_atom::value, id); },
      [](logs_atom, const std::string&, int32_t) { return std::string{}; },
      [](instances_atom) { return std::vector<instance_status>{}; },
  };
}

/// A host of 4 slots, all free, running nothing.
host_info fresh_host(std::string id) {
  return {std::move(id), "z", 4, 4, 2, {}, false, "", {}};
}

class SchedulerTest : public ::testing::Test {
protected:
  struct config : caf::actor_system_config {
    config() { register_troupe_types(*this); }
  };

  void SetUp() override {
    std::string tmpl = "/tmp/troupe-scheduler-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::string error;
    store_ = storage::open_rocksdb_store(dir_ + "/db", error);
    ASSERT_TRUE(store_) << error;
    scheduler_ = spawn_scheduler(sys_, *store_);
    host_ = sys_.spawn(quiet_host);
    caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h1"), host_);
  }

  void TearDown() override {
    caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(host_, caf::exit_reason::user_shutdown);
    sys_.await_all_actors_done();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  /// Stops the scheduler and starts another over the same store, as a
  /// restarted controller does.
  void restart(scheduler_settings settings) {
    caf::scoped_actor self{sys_};
    self->monitor(scheduler_);
    self->send_exit(scheduler_, caf::exit_reason::user_shutdown);
    self->receive([](const caf::down_msg&) {},
                  caf::after(5s) >> [] { FAIL() << "the scheduler did not stop"; });
    scheduler_ = spawn_scheduler(sys_, *store_, settings);
  }

  /// The scheduler's view of its hosts.
  std::vector<host_status> hosts() {
    std::vector<host_status> out;
    caf::scoped_actor self{sys_};
    self->request(scheduler_, 5s, hosts_atom::value)
        .receive([&](std::vector<host_status>& hs) { out = std::move(hs); },
                 [](caf::error& err) { FAIL() << to_string(err); });
    return out;
  }

  /// Places a function of `memory_mb`; the placement, or the error's code.
  caf::expected<placement> place(int32_t memory_mb, const std::string& name = "f",
                                 const std::string& tenant = "default",
                                 std::vector<std::string> avoid = {}) {
    function_config fn;
    fn.name = name;
    fn.tenant = tenant;
    fn.memory_mb = memory_mb;
    fn.package = "abc";
    caf::expected<placement> out{caf::error{}};
    caf::scoped_actor self{sys_};
    self->request(scheduler_, 5s, place_atom::value, fn, avoid)
        .receive([&](placement& p, host_actor&) { out = std::move(p); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  /// The state of an instance's record on disk ("" if there is none).
  std::string on_disk(const std::string& instance_id) {
    auto bytes = store_->get(placement_key(instance_id));
    if (!bytes)
      return "";
    auto p = decode_placement(sys_, *bytes);
    return p ? p->state : "unreadable";
  }

  /// Waits (bounded) until the record's state is `want`.
  bool await_state(const std::string& instance_id, const std::string& want) {
    for (int i = 0; i < 200 && on_disk(instance_id) != want; ++i)
      std::this_thread::sleep_for(10ms);
    return on_disk(instance_id) == want;
  }

  config cfg_;
  caf::actor_system sys_{cfg_};
  std::string dir_;
  std::unique_ptr<storage::kv_store> store_;
  scheduler_actor scheduler_;
  host_actor host_;
};

TEST_F(SchedulerTest, PlacementIsOnDiskBeforeItIsAnswered) {
  auto p = place(256);
  ASSERT_TRUE(p) << sys_.render(p.error());
  EXPECT_EQ(p->host_id, "h1");
  EXPECT_EQ(on_disk(p->instance_id), "placed"); // read right after the answer
}

TEST_F(SchedulerTest, SlotsAreReservedAndGivenBack) {
  auto first = place(256), second = place(256); // 2 + 2 of 4 slots
  ASSERT_TRUE(first && second);
  auto third = place(128);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error(), errc::no_capacity);
  caf::anon_send(scheduler_, release_atom::value, first->instance_id);
  EXPECT_TRUE(await_state(first->instance_id, "")); // the record is removed
  EXPECT_TRUE(place(128));
}

TEST_F(SchedulerTest, TransitionsAreRecordedUpToTheHostsLoss) {
  auto p = place(128);
  ASSERT_TRUE(p);
  for (const char* state : {"starting", "ready"}) {
    caf::anon_send(scheduler_, state_atom::value, p->instance_id, std::string{state});
    EXPECT_TRUE(await_state(p->instance_id, state)) << on_disk(p->instance_id);
  }
  caf::scoped_actor self{sys_};
  self->request(scheduler_, 5s, drain_atom::value, std::string{"h1"}, true)
      .receive([](bool found) { EXPECT_TRUE(found); },
               [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_TRUE(await_state(p->instance_id, "draining")) << on_disk(p->instance_id);
  auto refused = place(128); // a draining host takes no placements
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::no_capacity);
  caf::anon_send_exit(host_, caf::exit_reason::kill); // the host is lost
  EXPECT_TRUE(await_state(p->instance_id, "lost")) << on_disk(p->instance_id);
  self->request(scheduler_, 5s, hosts_atom::value)
      .receive([](const std::vector<host_status>& hosts) { EXPECT_TRUE(hosts.empty()); },
               [](caf::error& err) { FAIL() << to_string(err); });
}

TEST_F(SchedulerTest, OneFunctionsInstancesAreLimitedAcrossTheCluster) {
  restart({2, 10'000, {}, 0, {}});
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h1"), host_);
  auto a = place(128), b = place(128);
  ASSERT_TRUE(a && b);
  auto third = place(128); // room on the host, but the function is at its limit
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error(), errc::too_many_requests);
  EXPECT_TRUE(place(128, "g")) << "another function has its own limit";
  caf::anon_send(scheduler_, release_atom::value, a->instance_id);
  EXPECT_TRUE(place(128));
}

TEST_F(SchedulerTest, ADedicatedTenantGetsHostsOfItsOwnSharedOnesMix) {
  restart({32, 10'000, {"d"}, 0, {}});
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h1"), host_);
  auto h2 = sys_.spawn(quiet_host);
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h2"), h2);
  auto shared = place(128, "f", "t1");
  ASSERT_TRUE(shared);
  auto dedicated = place(128, "g", "d"); // not beside t1's instance
  ASSERT_TRUE(dedicated) << sys_.render(dedicated.error());
  EXPECT_NE(dedicated->host_id, shared->host_id);
  EXPECT_EQ(dedicated->tenant, "d");
  auto other = place(128, "h", "t2"); // shared tenants mix, but not on d's host
  ASSERT_TRUE(other);
  EXPECT_EQ(other->host_id, shared->host_id);
  auto more = place(128, "g2", "d"); // d's own host before spreading onto others'
  ASSERT_TRUE(more);
  EXPECT_EQ(more->host_id, dedicated->host_id);
  ASSERT_TRUE(place(256, "f2", "t1"));   // fills the shared host (4 slots)
  auto refused = place(128, "f3", "t1"); // d's host has room, but not for t1
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::no_capacity);
  // Once d's instances end, its host is open to everyone again.
  caf::anon_send(scheduler_, release_atom::value, dedicated->instance_id);
  caf::anon_send(scheduler_, release_atom::value, more->instance_id);
  auto after = place(128, "f3", "t1");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->host_id, dedicated->host_id);
  caf::anon_send_exit(h2, caf::exit_reason::user_shutdown);
}

TEST_F(SchedulerTest, RestartedSchedulerKeepsWhatHostsReportAndLosesTheRest) {
  auto kept = place(128), gone = place(128), launching = place(128);
  ASSERT_TRUE(kept && gone && launching);
  for (const auto& p : {*kept, *gone})
    caf::anon_send(scheduler_, state_atom::value, p.instance_id, std::string{"ready"});
  ASSERT_TRUE(await_state(kept->instance_id, "ready") && await_state(gone->instance_id, "ready"));
  // A host that never comes back after the restart.
  auto h2 = fresh_host("h2");
  h2.slots = h2.free_slots = 1; // the tightest fit for g
  h2.packages = {"abc"};        // as h1 holds it now
  caf::anon_send(scheduler_, host_up_atom::value, h2, sys_.spawn(quiet_host));
  auto away = place(128, "g");
  ASSERT_TRUE(away);
  EXPECT_EQ(away->host_id, "h2");
  ASSERT_TRUE(await_state(away->instance_id, "placed"));

  restart({32, 300, {}, 0, {}});
  // h1 registers again, reporting the kept instance and one without a placement.
  caf::scoped_actor self{sys_};
  auto h1 = sys_.spawn(reporting_host, caf::actor{self});
  auto report = [](std::string id, int32_t slots, std::string state = "ready") {
    return placement{std::move(id), "f", "h1", std::move(state), 0, slots, "", "default"};
  };
  host_info info{"h1",
                 "z",
                 4,
                 0,
                 2,
                 {},
                 false,
                 "",
                 {report(kept->instance_id, 1), report(launching->instance_id, 1, "starting"),
                  report("x-1", 2)}};
  caf::anon_send(scheduler_, host_up_atom::value, info, h1);
  std::string orphan;
  self->receive([&](orphan_atom, const std::string& id) { orphan = id; },
                caf::after(5s) >> [] { FAIL() << "no orphan was reported"; });
  EXPECT_EQ(orphan, "x-1");
  EXPECT_EQ(on_disk(kept->instance_id), "ready");
  // Its launch goes on: the new state is written by the scheduler's next
  // group commit, which may come after the orphan's message.
  EXPECT_TRUE(await_state(launching->instance_id, "starting"));
  EXPECT_TRUE(await_state(gone->instance_id, "lost")) << "h1 does not run it";
  EXPECT_TRUE(await_state("x-1", "draining"));
  auto listed = hosts();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].instances, 3);
  EXPECT_EQ(listed[0].info.free_slots, 0);
  // The orphan ends: its slots come back and its record goes.
  caf::anon_send(scheduler_, release_atom::value, std::string{"x-1"});
  EXPECT_TRUE(await_state("x-1", ""));
  EXPECT_EQ(hosts()[0].info.free_slots, 2);
  caf::anon_send(scheduler_, state_atom::value, launching->instance_id, std::string{"ready"});
  EXPECT_TRUE(await_state(launching->instance_id, "ready")); // known again: recorded
  // h2 stayed away past the grace time.
  EXPECT_TRUE(await_state(away->instance_id, "lost"));
  self->send_exit(h1, caf::exit_reason::user_shutdown);
}

TEST_F(SchedulerTest, AvoidedHostsAreUsedOnlyWhenNoOtherFits) {
  auto h2 = sys_.spawn(quiet_host);
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h2"), h2);
  auto first = place(128, "f", "default", {"h1"});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->host_id, "h2");
  auto second = place(128, "f", "default", {"h1"}); // spreading would pick h1
  ASSERT_TRUE(second);
  EXPECT_EQ(second->host_id, "h2");
  auto big = place(384, "g", "default", {"h1"}); // h2 has 2 of 4 slots left
  ASSERT_TRUE(big);
  EXPECT_EQ(big->host_id, "h1");
  caf::anon_send_exit(h2, caf::exit_reason::kill);
}

TEST_F(SchedulerTest, ReservedConcurrencyCapsItsFunctionAndIsKeptFromTheOthers) {
  restart({32, 10'000, {}, 3, {}}); // a tenant has 3 instances in all
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h1"), host_);
  caf::anon_send(scheduler_, reserve_atom::value, std::string{"default"},
                 net::function_id("default", "r"), 1);
  auto r1 = place(128, "r");
  ASSERT_TRUE(r1);
  auto r2 = place(128, "r");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), errc::reserved_limit);
  auto f1 = place(128, "f"), f2 = place(128, "f"); // the 2 that the reservation leaves
  ASSERT_TRUE(f1 && f2);
  auto f3 = place(128, "g");
  ASSERT_FALSE(f3);
  EXPECT_EQ(f3.error(), errc::too_many_requests);
  EXPECT_TRUE(place(128, "f", "other")) << "another tenant has its own instances";
  caf::anon_send(scheduler_, reserve_atom::value, std::string{"default"},
                 net::function_id("default", "r"), -1);
  caf::anon_send(scheduler_, release_atom::value, f1->instance_id);
  EXPECT_TRUE(place(128, "g")) << "without the reservation, r's instance is the pool's";
  auto over = place(128, "r");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), errc::too_many_requests);
}

TEST_F(SchedulerTest, AHostWhoseLaunchesKeepFailingIsShunnedByItsBreaker) {
  scheduler_settings settings{32, 10'000, {}, 0, {}};
  settings.breaker.consecutive_failures = 2;
  settings.breaker.cool_down_ms = 60'000;
  restart(settings);
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h1"), host_);
  auto h2 = sys_.spawn(quiet_host);
  caf::anon_send(scheduler_, host_up_atom::value, fresh_host("h2"), h2);
  for (int i = 0; i < 2; ++i) // two functions' routers saw a launch on h1 fail
    caf::anon_send(scheduler_, outcome_atom::value, std::string{"h1"}, false);
  for (const char* fn : {"f", "g", "k"}) { // spreading alone would use h1 for some
    auto p = place(128, fn);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->host_id, "h2") << fn;
  }
  caf::scoped_actor self{sys_};
  self->request(scheduler_, 5s, hosts_atom::value)
      .receive(
          [](const std::vector<host_status>& hosts) {
            ASSERT_EQ(hosts.size(), 2u);
            EXPECT_EQ(hosts[0].info.id, "h1");
            EXPECT_EQ(hosts[0].breaker, "open");
            EXPECT_EQ(hosts[0].breaker_reason, "2 consecutive platform failures");
            EXPECT_EQ(hosts[1].breaker, "closed");
          },
          [](caf::error& err) { FAIL() << to_string(err); });
  auto big = place(512, "big"); // h2 has 1 of 4 slots left: only h1 fits
  ASSERT_TRUE(big);
  EXPECT_EQ(big->host_id, "h1");
  caf::anon_send_exit(h2, caf::exit_reason::kill);
}

TEST_F(SchedulerTest, DrainingAnUnknownHostIsRefused) {
  caf::scoped_actor self{sys_};
  self->request(scheduler_, 5s, drain_atom::value, std::string{"nope"}, true)
      .receive([](bool found) { EXPECT_FALSE(found); },
               [](caf::error& err) { FAIL() << to_string(err); });
}

} // namespace
