#include "actors/pool.hpp"

#include "actors/clock.hpp"
#include "actors/policy/token_bucket.hpp"
#include "actors/protocol/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <iostream>

namespace troupe {

namespace {

struct pool_state {
  runtime::sandbox_options opts;
  policy::pool_bounds bounds;
  policy::token_bucket refill_bucket{200, 1};
  policy::demand_rate demand;
  std::deque<std::shared_ptr<runtime::sandbox>> stock;
  bool refill_pending = false;
  static inline const char* name = "troupe.pool";
};

using pool_ptr = pool_actor::stateful_pointer<pool_state>;

std::shared_ptr<runtime::sandbox> prepare(pool_ptr self, std::string& error) {
  return std::shared_ptr<runtime::sandbox>{runtime::sandbox::prepare(self->state.opts, error)};
}

size_t target(pool_ptr self) {
  auto& st = self->state;
  return static_cast<size_t>(policy::pool_target(st.demand.per_second(now_ms()), st.bounds));
}

/// Schedules one refill step, when the bucket has a token, unless one is on its way.
void schedule_refill(pool_ptr self) {
  auto& st = self->state;
  if (st.refill_pending || st.stock.size() >= target(self))
    return;
  st.refill_pending = true;
  if (auto wait = st.refill_bucket.wait_ms(now_ms()); wait > 0)
    self->delayed_send(self, std::chrono::milliseconds(wait), refill_atom::value);
  else
    self->send(self, refill_atom::value);
}

void refill(pool_ptr self) {
  auto& st = self->state;
  st.refill_pending = false;
  if (st.stock.size() >= target(self))
    return;
  if (!st.refill_bucket.take(now_ms()))
    return schedule_refill(self);
  std::string error;
  if (auto box = prepare(self, error)) {
    st.stock.push_back(std::move(box));
    schedule_refill(self);
  } else {
    std::cerr << "troupe-node: pool cannot prepare a sandbox: " << error << "\n";
  }
}

caf::result<sandbox_lease> acquire(pool_ptr self) {
  auto& st = self->state;
  st.demand.on_take(now_ms());
  std::shared_ptr<runtime::sandbox> box;
  if (!st.stock.empty()) {
    box = std::move(st.stock.front());
    st.stock.pop_front();
  } else {
    std::string error;
    box = prepare(self, error);
    if (!box)
      return make_error(errc::sandbox_failed, "cannot prepare a sandbox: " + error);
  }
  schedule_refill(self);
  return sandbox_lease{std::move(box)};
}

pool_actor::behavior_type pool(pool_ptr self, runtime::sandbox_options opts,
                               pool_settings settings) {
  self->state.opts = std::move(opts);
  self->state.bounds = settings.bounds;
  self->state.refill_bucket =
      policy::token_bucket{settings.refill_per_s, std::max(1.0, double(settings.bounds.min))};
  schedule_refill(self);
  return {
      [=](acquire_atom) { return acquire(self); },
      [=](refill_atom) { refill(self); },
  };
}

} // namespace

pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts,
                      pool_settings settings) {
  return sys.spawn(pool, std::move(opts), settings);
}

} // namespace troupe
