#include "actors/pool.hpp"

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
  size_t target = 0;
  std::deque<std::shared_ptr<runtime::sandbox>> stock;
  bool refill_pending = false;
  static inline const char* name = "troupe.pool";
};

using pool_ptr = pool_actor::stateful_pointer<pool_state>;

std::shared_ptr<runtime::sandbox> prepare(pool_ptr self, std::string& error) {
  return std::shared_ptr<runtime::sandbox>{runtime::sandbox::prepare(self->state.opts, error)};
}

/// Schedules one refill step unless one is already on its way.
void schedule_refill(pool_ptr self) {
  if (self->state.refill_pending || self->state.stock.size() >= self->state.target)
    return;
  self->state.refill_pending = true;
  self->send(self, refill_atom::value);
}

void refill(pool_ptr self) {
  auto& st = self->state;
  st.refill_pending = false;
  if (st.stock.size() >= st.target)
    return;
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

pool_actor::behavior_type pool(pool_ptr self, runtime::sandbox_options opts, size_t target) {
  self->state.opts = std::move(opts);
  self->state.target = target;
  schedule_refill(self);
  return {
    [=](acquire_atom) { return acquire(self); },
    [=](refill_atom) { refill(self); },
  };
}

} // namespace

pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts, size_t target) {
  return sys.spawn(pool, std::move(opts), target);
}

} // namespace troupe
