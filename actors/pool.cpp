#include "actors/pool.hpp"

#include "actors/clock.hpp"
#include "actors/policy/token_bucket.hpp"
#include "actors/protocol/errc.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <deque>
#include <optional>

namespace troupe {

namespace {

// ---- the maker ---------------------------------------------------------------

template_maker_actor::behavior_type template_maker() {
  return {
      [](make_atom, const runtime::sandbox_options& opts) -> caf::result<sandbox_lease> {
        std::string error;
        std::shared_ptr<runtime::sandbox> box{runtime::sandbox::prepare(opts, error)};
        if (!box)
          return make_error(errc::sandbox_failed, "cannot prepare a sandbox: " + error);
        return sandbox_lease{std::move(box)};
      },
  };
}

template_claimer_actor::behavior_type template_claimer() {
  return {
      [](claim_atom, sandbox_lease& lease,
         const runtime::sandbox_spec& spec) -> caf::result<sandbox_lease> {
        auto error = lease.box->start(spec);
        if (!error.empty())
          return make_error(errc::sandbox_failed, "sandbox start failed: " + error);
        return std::move(lease);
      },
  };
}

// ---- the refill pacer -------------------------------------------------------

using token_promise = caf::typed_response_promise<bool>;

struct pacer_state {
  policy::token_bucket bucket{200, 1};
  std::deque<token_promise> waiting;
  bool tick_pending = false;
  static inline const char* name = "troupe.refill_pacer";
};

using pacer_ptr = refill_pacer_actor::stateful_pointer<pacer_state>;

/// Hands out what tokens there are, first come first served; comes back when
/// the next one is due.
void serve_tokens(pacer_ptr self) {
  auto& st = self->state;
  st.tick_pending = false;
  while (!st.waiting.empty() && st.bucket.take(now_ms())) {
    st.waiting.front().deliver(true);
    st.waiting.pop_front();
  }
  if (!st.waiting.empty()) {
    st.tick_pending = true;
    self->delayed_send(self, std::chrono::milliseconds(st.bucket.wait_ms(now_ms())),
                       refill_atom::value);
  }
}

refill_pacer_actor::behavior_type refill_pacer(pacer_ptr self, double per_s, double burst) {
  self->state.bucket = policy::token_bucket{per_s, std::max(1.0, burst)};
  return {
      [=](token_atom) -> caf::result<bool> {
        auto& st = self->state;
        if (st.waiting.empty() && st.bucket.take(now_ms()))
          return true;
        st.waiting.push_back(self->make_response_promise<bool>());
        if (!st.tick_pending)
          serve_tokens(self);
        return st.waiting.back();
      },
      [=](refill_atom) { serve_tokens(self); },
  };
}

// ---- the pool ------------------------------------------------------------------

using lease_promise = caf::typed_response_promise<sandbox_lease>;

/// A pool's series in the node's metrics.
struct pool_metrics {
  net::metrics::gauge* stock = nullptr;
  net::metrics::counter* hits = nullptr;
  net::metrics::counter* misses = nullptr;
  net::metrics::counter* made = nullptr;
  net::metrics::counter* discarded = nullptr;

  pool_metrics(const std::string& family, uint64_t memory_bytes) {
    auto& reg = net::metrics::registry::node();
    net::metrics::labels l{{"runtime", family}, {"memory_mb", std::to_string(memory_bytes >> 20)}};
    auto with = [&](const char* outcome) {
      auto all = l;
      all.emplace_back("template", outcome);
      return all;
    };
    stock = &reg.get_gauge("troupe_pool_templates", "Pre-started templates ready in a pool", l);
    auto cold_starts = [&](const char* outcome) {
      return &reg.get_counter("troupe_cold_starts_total",
                              "Cold starts, by whether a template was ready (hit) or not (miss)",
                              with(outcome));
    };
    hits = cold_starts("hit");
    misses = cold_starts("miss");
    made = &reg.get_counter("troupe_templates_made_total",
                            "Templates that passed their health check", l);
    discarded = &reg.get_counter("troupe_templates_discarded_total",
                                 "Templates that failed their health check or died in stock", l);
  }
};

struct pool_state {
  runtime::sandbox_options opts;
  policy::pool_bounds bounds;
  refill_pacer_actor pacer;
  policy::demand_rate demand;
  std::vector<template_maker_actor> makers;
  size_t next_maker = 0;
  std::deque<std::shared_ptr<runtime::sandbox>> stock;
  std::deque<lease_promise> waiting; ///< misses, served first by what is made next
  size_t in_flight = 0;              ///< make requests not answered yet
  bool refill_pending = false;
  int64_t failures_in_row = 0; ///< make failures since the last success
  int64_t retry_at_ms = 0;     ///< no refill before this after failures (exponential backoff)
  int64_t last_take_ms = -1;   ///< the last acquire (refills wait for a lull in a burst)
  pool_stats stats;
  std::optional<pool_metrics> metrics;
  static inline const char* name = "troupe.pool";
};

using pool_ptr = pool_actor::stateful_pointer<pool_state>;

size_t target(pool_ptr self) {
  auto& st = self->state;
  return static_cast<size_t>(policy::pool_target(st.demand.per_second(now_ms()), st.bounds));
}

/// Stock plus what is being made for it (what is made for a waiter is not stock).
size_t coming(pool_ptr self) {
  auto& st = self->state;
  auto making_for_stock = st.in_flight > st.waiting.size() ? st.in_flight - st.waiting.size() : 0;
  return st.stock.size() + making_for_stock;
}

void schedule_refill(pool_ptr self);

void on_made(pool_ptr self, std::shared_ptr<runtime::sandbox> box) {
  auto& st = self->state;
  --st.in_flight;
  ++st.stats.made;
  st.metrics->made->add();
  st.failures_in_row = 0;
  st.retry_at_ms = 0;
  if (!st.waiting.empty()) {
    st.waiting.front().deliver(sandbox_lease{std::move(box)});
    st.waiting.pop_front();
  } else {
    st.stock.push_back(std::move(box));
  }
  schedule_refill(self);
}

void on_make_failed(pool_ptr self, const caf::error& err) {
  auto& st = self->state;
  --st.in_flight;
  ++st.stats.discarded;
  st.metrics->discarded->add();
  // Back off (10 ms doubling to 5 s) so that a cause that persists (no fds,
  // a broken runtime) neither spins the makers nor floods the log.
  auto n = ++st.failures_in_row;
  auto backoff = std::min<int64_t>(5000, int64_t{10} << std::min<int64_t>(n - 1, 9));
  st.retry_at_ms = now_ms() + backoff;
  if ((n & (n - 1)) == 0) // the 1st, 2nd, 4th, ... failure in a row
    net::log::warn("template_discarded", "template discarded: " + self->system().render(err))
        .field("in_a_row", n)
        .field("retry_in_ms", backoff);
  // A waiter beyond what is still being made would wait for nothing.
  if (st.waiting.size() > st.in_flight) {
    st.waiting.front().deliver(err);
    st.waiting.pop_front();
  }
  schedule_refill(self);
}

/// Asks the next maker for one template.
void make_one(pool_ptr self) {
  auto& st = self->state;
  if (st.makers.empty())
    return;
  ++st.in_flight;
  auto maker = st.makers[st.next_maker++ % st.makers.size()];
  self->request(maker, caf::infinite, make_atom::value, st.opts)
      .then([=](sandbox_lease& lease) { on_made(self, std::move(lease.box)); },
            [=](caf::error& err) { on_make_failed(self, err); });
}

/// Schedules one refill step (after a failure's backoff), unless one is on its way.
void schedule_refill(pool_ptr self) {
  auto& st = self->state;
  st.metrics->stock->set(static_cast<double>(st.stock.size())); // after every change of it
  if (st.refill_pending || coming(self) >= target(self))
    return;
  st.refill_pending = true;
  if (auto wait = st.retry_at_ms - now_ms(); wait > 0)
    self->delayed_send(self, std::chrono::milliseconds(wait), refill_atom::value);
  else
    self->send(self, refill_atom::value);
}

/// One refill step: a token from the host's pacer, then one template made.
void refill(pool_ptr self) {
  auto& st = self->state;
  if (coming(self) >= target(self)) {
    st.refill_pending = false;
    return;
  }
  auto now = now_ms();
  if (auto wait = policy::refill_delay_ms(st.stock.size(), target(self), st.last_take_ms, now);
      wait > 0) {
    self->delayed_send(self, std::chrono::milliseconds(wait), refill_atom::value);
    return; // still pending
  }
  self->request(st.pacer, caf::infinite, token_atom::value).then([=](bool) {
    self->state.refill_pending = false;
    if (coming(self) < target(self))
      make_one(self);
    schedule_refill(self);
  });
}

/// The first template in stock that is still alive; the dead are discarded.
std::shared_ptr<runtime::sandbox> take_from_stock(pool_ptr self) {
  auto& st = self->state;
  while (!st.stock.empty()) {
    auto box = std::move(st.stock.front());
    st.stock.pop_front();
    if (box->alive())
      return box;
    ++st.stats.discarded;
    st.metrics->discarded->add();
  }
  return nullptr;
}

caf::result<sandbox_lease> acquire(pool_ptr self) {
  auto& st = self->state;
  st.last_take_ms = now_ms();
  st.demand.on_take(st.last_take_ms);
  if (auto box = take_from_stock(self)) {
    ++st.stats.hits;
    st.metrics->hits->add();
    schedule_refill(self);
    return sandbox_lease{std::move(box)};
  }
  ++st.stats.misses;
  st.metrics->misses->add();
  if (st.makers.empty())
    return make_error(errc::sandbox_failed, "the pool has no template maker");
  auto rp = self->make_response_promise<sandbox_lease>();
  st.waiting.push_back(rp);
  make_one(self);
  schedule_refill(self);
  return rp;
}

pool_actor::behavior_type pool(pool_ptr self, runtime::sandbox_options opts,
                               policy::pool_bounds bounds, std::vector<template_maker_actor> makers,
                               refill_pacer_actor pacer, const std::string& family) {
  auto& st = self->state;
  st.metrics.emplace(family, opts.memory_bytes);
  st.opts = std::move(opts);
  st.bounds = bounds;
  st.makers = std::move(makers);
  st.pacer = std::move(pacer);
  schedule_refill(self);
  return {
      [=](acquire_atom) { return acquire(self); },
      [=](stats_atom) {
        auto s = self->state.stats;
        s.stock = static_cast<int64_t>(self->state.stock.size());
        return s;
      },
      [=](refill_atom) { refill(self); },
  };
}

} // namespace

template_maker_actor spawn_template_maker(caf::actor_system& sys) {
  return sys.spawn<caf::detached>(template_maker);
}

refill_pacer_actor spawn_refill_pacer(caf::actor_system& sys, double per_s, double burst) {
  return sys.spawn(refill_pacer, per_s, burst);
}

template_claimer_actor spawn_template_claimer(caf::actor_system& sys) {
  return sys.spawn<caf::detached>(template_claimer);
}

pool_actor spawn_pool(caf::actor_system& sys, runtime::sandbox_options opts,
                      policy::pool_bounds bounds, std::vector<template_maker_actor> makers,
                      refill_pacer_actor pacer, std::string family) {
  return sys.spawn(pool, std::move(opts), bounds, std::move(makers), std::move(pacer),
                   std::move(family));
}

} // namespace troupe
