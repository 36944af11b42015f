// The router's own deadline for a run: an instance that takes a request and
// never answers (nor goes down) must not hold its caller for good.
#include "actors/node_config.hpp"
#include "actors/protocol/host.hpp"
#include "actors/protocol/instance.hpp"
#include "actors/protocol/scheduler.hpp"
#include "actors/router.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono;

namespace {

using held_promises = std::vector<caf::typed_response_promise<invocation_result>>;

/// An instance that takes every request and answers none.
instance_actor::behavior_type stuck_instance(instance_actor::pointer self,
                                             std::shared_ptr<std::atomic<int>> taken) {
  auto held = std::make_shared<held_promises>();
  return {
      [=](invoke_atom, invocation&) -> caf::result<invocation_result> {
        ++*taken;
        held->push_back(self->make_response_promise<invocation_result>());
        return held->back();
      },
      [](drain_atom) {},
      [](status_atom) { return instance_status{}; },
  };
}

host_actor::behavior_type host_of(instance_actor inst) {
  return {
      [=](launch_atom, const std::string&, const function_config&, const router_actor&) {
        return inst;
      },
      [](drain_atom, bool) {},
      [](orphan_atom, const std::string&) {},
      [](logs_atom, const std::string&, int32_t) { return std::string{}; },
      [](instances_atom) { return std::vector<instance_status>{}; },
  };
}

/// Places every instance on `host`.
scheduler_actor::behavior_type scheduler_for(host_actor host) {
  return {
      [=](place_atom, const function_config& cfg,
          const std::vector<std::string>&) -> caf::result<placement, host_actor> {
        placement p;
        p.instance_id = "i-1";
        p.function = cfg.id();
        p.host_id = "host-1";
        p.state = "placed";
        return {p, host};
      },
      [](state_atom, const std::string&, const std::string&) {},
      [](release_atom, const std::string&) {},
      [](host_up_atom, const host_info&, const host_actor&) {},
      [](hosts_atom) { return std::vector<host_status>{}; },
      [](drain_atom, const std::string&, bool) { return false; },
      [](reserve_atom, const std::string&, const std::string&, int32_t) {},
      [](outcome_atom, const std::string&, bool) {},
      [](logs_atom, const std::string&, int32_t) { return std::vector<host_log>{}; },
      [](instances_atom) { return std::vector<instance_status>{}; },
  };
}

} // namespace

TEST(RouterDeadline, ARunNoInstanceAnswersFailsSoonAfterTheFunctionsTimeoutAndItsInstanceGoes) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto taken = std::make_shared<std::atomic<int>>(0);
  auto inst = sys.spawn(stuck_instance, taken);
  auto sched = sys.spawn(scheduler_for, sys.spawn(host_of, inst));
  function_config fn;
  fn.name = "stuck";
  fn.timeout_s = 1;
  auto router = spawn_router(sys, fn, router_settings{}, sched);
  caf::scoped_actor self{sys};
  self->monitor(inst);
  auto t0 = steady_clock::now();
  bool timed_out = false;
  self->request(router, seconds(30), invoke_atom::value, invocation{})
      .receive([](invocation_result&) {},
               [&](caf::error& err) { timed_out = err == caf::sec::request_timeout; });
  auto waited = duration<double>(steady_clock::now() - t0).count();
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(taken->load(), 1);
  // The function's 1 s, the 5 s margin, and at most one tick of the router.
  EXPECT_GE(waited, 6.0);
  EXPECT_LT(waited, 8.5);
  bool gone = false;
  self->receive([&](caf::down_msg&) { gone = true; }, caf::after(seconds(5)) >> [] {});
  EXPECT_TRUE(gone) << "the stuck instance was left running";
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sched, caf::exit_reason::user_shutdown);
}
