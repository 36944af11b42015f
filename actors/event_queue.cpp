#include "actors/event_queue.hpp"

#include "actors/clock.hpp"
#include "actors/group_commit.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"
#include "storage/kv_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>

namespace troupe {

namespace {

/// The queue's full interface: the public one plus its own timer and flush.
using event_queue_impl =
    event_queue_actor::extend<caf::reacts_to<deliver_atom>, caf::reacts_to<flush_atom>>;

/// A dead letter as the queue keeps it in memory (the record is on disk).
struct dead_entry {
  std::string function;
  int64_t dead_ms = 0;
};

struct event_queue_state {
  storage::kv_store* store = nullptr;
  event_queue_settings cfg;
  async_invoker_actor invoker;
  /// Queued events without their payloads (those stay on disk), by id.
  std::map<std::string, async_event> queued;
  std::set<std::pair<int64_t, std::string>> by_age; ///< the queued, by enqueued_ms
  std::multimap<int64_t, std::string> due;          ///< queued events not under way, by due time
  std::map<std::string, dead_entry> dead;
  int64_t in_flight = 0;
  event_queue_stats counts;
  int64_t timer_at_ms = 0; ///< when the next deliver_atom comes (0: none armed)
  group_commit batch;      ///< changes not written yet, and what waits for them
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "troupe.event_queue";
};

using queue_ptr = event_queue_impl::stateful_pointer<event_queue_state>;

/// Queues `ev` (without its payload) under its id.
void remember(event_queue_state& st, const async_event& ev) {
  auto [it, fresh] = st.queued.insert_or_assign(ev.id, ev);
  if (!fresh)
    st.by_age.erase({it->second.enqueued_ms, ev.id});
  st.by_age.emplace(ev.enqueued_ms, ev.id);
}

void forget(event_queue_state& st, const std::string& id) {
  if (auto it = st.queued.find(id); it != st.queued.end()) {
    st.by_age.erase({it->second.enqueued_ms, id});
    st.queued.erase(it);
  }
}

/// The oldest queued event's enqueue time, for the node's metrics (0: none).
/// One queue per node: a test's several queues share it.
std::atomic<int64_t> oldest_event_ms{0};

/// Sets the node's metrics of the queue, after it changed.
void publish(queue_ptr self) {
  static auto& depth = net::metrics::registry::node().get_gauge(
      "troupe_async_queue_depth", "Asynchronous invocations queued, not yet delivered");
  static auto& dead = net::metrics::registry::node().get_gauge(
      "troupe_async_dead_letters", "Asynchronous invocations given up on, kept as dead letters");
  static auto& delivering = net::metrics::registry::node().get_gauge(
      "troupe_async_in_flight", "Asynchronous invocations being delivered now");
  static bool aged = [] {
    net::metrics::registry::node().on_render([](net::metrics::registry& r) {
      auto oldest = oldest_event_ms.load(std::memory_order_relaxed);
      r.get_gauge("troupe_async_oldest_event_age_seconds",
                  "Age of the oldest queued asynchronous invocation (0: none queued)")
          .set(oldest == 0 ? 0.0 : std::max<int64_t>(0, now_ms() - oldest) / 1000.0);
    });
    return true;
  }();
  (void)aged;
  auto& st = self->state;
  depth.set(static_cast<double>(st.queued.size()));
  dead.set(static_cast<double>(st.dead.size()));
  delivering.set(static_cast<double>(st.in_flight));
  oldest_event_ms.store(st.by_age.empty() ? 0 : std::max<int64_t>(1, st.by_age.begin()->first),
                        std::memory_order_relaxed);
}

void pump(queue_ptr self);

void stage(queue_ptr self, storage::kv_store::change c, group_commit::on_written then = {}) {
  if (self->state.batch.stage(std::move(c), std::move(then)))
    self->send(self, flush_atom::value); // behind everything already in the mailbox
}

void flush(queue_ptr self) {
  if (auto error = self->state.batch.flush(*self->state.store); !error.empty())
    net::log::error("event_queue_write_failed", "event queue write failed: " + error);
}

/// The record as it is kept in memory: everything but the payload.
async_event without_payload(async_event ev) {
  ev.payload.clear();
  ev.payload.shrink_to_fit();
  return ev;
}

void schedule(queue_ptr self, const async_event& ev) {
  remember(self->state, without_payload(ev));
  self->state.due.emplace(ev.next_ms, ev.id);
}

/// Events and dead letters of an earlier run: what was on its way when the
/// node stopped is delivered again (at least once).
void load(queue_ptr self) {
  auto& st = self->state;
  auto& sys = self->system();
  size_t bad = 0;
  st.store->scan("ev/", [&](std::string_view, std::string_view v) {
    if (auto ev = decode_event(sys, v))
      schedule(self, *ev);
    else
      ++bad;
    return true;
  });
  st.store->scan("dl/", [&](std::string_view, std::string_view v) {
    if (auto ev = decode_event(sys, v))
      st.dead.emplace(ev->id, dead_entry{ev->function, ev->dead_ms});
    else
      ++bad;
    return true;
  });
  if (bad > 0)
    net::log::error("event_records_unreadable",
                    "event queue: " + std::to_string(bad) + " records could not be read")
        .field("count", bad);
  if (!st.queued.empty() || !st.dead.empty())
    net::log::info("event_queue_loaded", "event queue: " + std::to_string(st.queued.size()) +
                                             " events queued, " + std::to_string(st.dead.size()) +
                                             " dead letters")
        .field("queued", st.queued.size())
        .field("dead_letters", st.dead.size());
}

/// What a failed attempt says about whether to try again.
policy::failure_kind kind_of(const caf::error& err) {
  return is_throttle(err) ? policy::failure_kind::throttled : policy::failure_kind::platform;
}

void give_up(queue_ptr self, async_event ev, std::string reason) {
  auto& st = self->state;
  ev.dead_reason = std::move(reason);
  ev.dead_ms = now_ms();
  forget(st, ev.id);
  st.dead[ev.id] = dead_entry{ev.function, ev.dead_ms};
  ++st.counts.dead;
  stage(self, {event_key(ev.id), std::nullopt});
  stage(self, {dead_letter_key(ev.id), encode(self->system(), ev)});
}

/// The attempt in `ev` failed (`what` says how): due again later, or given up.
void failed(queue_ptr self, async_event ev, policy::failure_kind kind, std::string what) {
  auto& st = self->state;
  ev.last_error = std::move(what);
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  auto now = now_ms();
  auto retry = st.cfg.retry; // the function's own settings, if it had them
  if (ev.max_retries >= 0)
    retry.max_retries = ev.max_retries;
  if (ev.max_age_ms >= 0)
    retry.max_event_age_ms = ev.max_age_ms;
  auto d = policy::after_failure(retry, kind, ev.function_error_retries, ev.attempts,
                                 ev.enqueued_ms, now, unit(st.rng));
  if (!d.retry)
    return give_up(self, std::move(ev), std::move(d.dead_letter_reason));
  if (kind == policy::failure_kind::function_error)
    ++ev.function_error_retries;
  ev.next_ms = d.at_ms;
  ++st.counts.retried;
  stage(self, {event_key(ev.id), encode(self->system(), ev)});
  schedule(self, ev);
}

void delivered(queue_ptr self, const async_event& ev) {
  forget(self->state, ev.id);
  ++self->state.counts.delivered;
  stage(self, {event_key(ev.id), std::nullopt});
}

/// Hands one due event to the invoker; its answer decides what comes next.
void deliver(queue_ptr self, const std::string& id) {
  auto& st = self->state;
  auto bytes = st.store->get(event_key(id));
  auto decoded = bytes ? decode_event(self->system(), *bytes) : std::nullopt;
  if (!decoded) {
    net::log::error("event_unreadable", "event queue: event " + id + " cannot be read; dropped")
        .field("event", id);
    forget(st, id);
    return;
  }
  auto ev = std::make_shared<async_event>(std::move(*decoded));
  ++ev->attempts;
  ++st.in_flight;
  invocation inv{ev->id, ev->payload, now_ms() + st.cfg.delivery_timeout_ms};
  auto timeout = std::chrono::milliseconds(st.cfg.delivery_timeout_ms);
  self->request(st.invoker, timeout, invoke_atom::value, ev->function, std::move(inv))
      .then(
          [=](invocation_result& res) {
            --self->state.in_flight;
            if (res.function_error)
              failed(self, std::move(*ev), policy::failure_kind::function_error,
                     res.payload.substr(0, 256));
            else
              delivered(self, *ev);
            pump(self);
          },
          [=](caf::error& err) {
            --self->state.in_flight;
            if (err == errc::function_not_found) {
              auto reason = "function " + ev->function + " does not exist";
              give_up(self, std::move(*ev), std::move(reason));
            } else
              failed(self, std::move(*ev), kind_of(err), error_message(err));
            pump(self);
          });
}

/// Starts the deliveries that are due and fit, and wakes up for the next one.
void pump(queue_ptr self) {
  auto& st = self->state;
  auto now = now_ms();
  while (st.in_flight < st.cfg.concurrency && !st.due.empty() && st.due.begin()->first <= now) {
    auto id = std::move(st.due.begin()->second);
    st.due.erase(st.due.begin());
    deliver(self, id);
  }
  publish(self);
  if (st.due.empty() || st.in_flight >= st.cfg.concurrency)
    return; // the next answer pumps again
  auto next = st.due.begin()->first;
  if (st.timer_at_ms != 0 && st.timer_at_ms <= next)
    return;
  st.timer_at_ms = next;
  self->delayed_send(self, std::chrono::milliseconds(std::max<int64_t>(1, next - now)),
                     deliver_atom::value);
}

caf::result<std::string> enqueue(queue_ptr self, async_event ev) {
  auto& st = self->state;
  if (st.queued.size() >= st.cfg.max_events)
    return make_error(errc::too_many_requests, "the event queue is full (" +
                                                   std::to_string(st.cfg.max_events) +
                                                   " events); try again later");
  if (st.queued.count(ev.id) > 0)
    return make_error(errc::invalid_parameter, "event " + ev.id + " is queued already");
  ev.enqueued_ms = ev.next_ms = now_ms();
  ev.attempts = ev.function_error_retries = 0;
  auto meta = without_payload(ev);
  remember(st, meta); // counts against the bound while it is written
  auto rp = self->make_response_promise<std::string>();
  stage(self, {event_key(ev.id), encode(self->system(), ev)},
        [=](const std::string& error) mutable {
          if (!error.empty()) {
            forget(self->state, meta.id);
            rp.deliver(make_error(errc::storage_failed, "the event was not queued: " + error));
            return;
          }
          self->state.due.emplace(meta.next_ms, meta.id);
          rp.deliver(meta.id);
          pump(self);
        });
  return rp;
}

std::vector<async_event> dead_letters(queue_ptr self, const std::string& function,
                                      int32_t max_items) {
  auto& st = self->state;
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, d] : st.dead)
    if (function.empty() || d.function == function || net::function_name_of(d.function) == function)
      order.emplace_back(d.dead_ms, id);
  std::sort(order.begin(), order.end());
  std::vector<async_event> out;
  for (const auto& [_, id] : order) {
    if (static_cast<int32_t>(out.size()) >= max_items)
      break;
    if (auto bytes = st.store->get(dead_letter_key(id)))
      if (auto ev = decode_event(self->system(), *bytes))
        out.push_back(std::move(*ev));
  }
  return out;
}

caf::result<bool> redrive(queue_ptr self, const std::string& id) {
  auto& st = self->state;
  auto bytes = st.dead.count(id) > 0 ? st.store->get(dead_letter_key(id)) : std::nullopt;
  auto ev = bytes ? decode_event(self->system(), *bytes) : std::nullopt;
  if (!ev)
    return false;
  if (st.queued.size() >= st.cfg.max_events)
    return make_error(errc::too_many_requests, "the event queue is full (" +
                                                   std::to_string(st.cfg.max_events) +
                                                   " events); try again later");
  auto letter = st.dead[id]; // put back if the write fails
  ev->enqueued_ms = ev->next_ms = now_ms();
  ev->attempts = ev->function_error_retries = 0;
  ev->dead_reason.clear();
  ev->dead_ms = 0;
  st.dead.erase(id);
  auto rp = self->make_response_promise<bool>();
  auto meta = without_payload(*ev);
  stage(self, {dead_letter_key(id), std::nullopt});
  stage(self, {event_key(id), encode(self->system(), *ev)}, [=](const std::string& error) mutable {
    if (!error.empty()) {
      self->state.dead[meta.id] = letter;
      rp.deliver(make_error(errc::storage_failed, "not re-driven: " + error));
      return;
    }
    schedule(self, meta);
    rp.deliver(true);
    pump(self);
  });
  return rp;
}

caf::result<bool> remove_dead(queue_ptr self, const std::string& id) {
  if (self->state.dead.erase(id) == 0)
    return false;
  auto rp = self->make_response_promise<bool>();
  stage(self, {dead_letter_key(id), std::nullopt}, [=](const std::string& error) mutable {
    if (error.empty())
      rp.deliver(true);
    else
      rp.deliver(make_error(errc::storage_failed, "not removed: " + error));
  });
  return rp;
}

event_queue_impl::behavior_type event_queue(queue_ptr self, storage::kv_store* store,
                                            event_queue_settings cfg, async_invoker_actor invoker) {
  auto& st = self->state;
  st.store = store;
  st.cfg = cfg;
  st.invoker = std::move(invoker);
  load(self);
  pump(self);
  return {
      [=](enqueue_atom, async_event& ev) { return enqueue(self, std::move(ev)); },
      [=](dead_atom, const std::string& function, int32_t max_items) {
        return dead_letters(self, function, max_items);
      },
      [=](redrive_atom, const std::string& id) { return redrive(self, id); },
      [=](remove_atom, const std::string& id) { return remove_dead(self, id); },
      [=](stats_atom) {
        auto c = self->state.counts;
        c.queued = static_cast<int64_t>(self->state.queued.size());
        c.in_flight = self->state.in_flight;
        return c;
      },
      [=](deliver_atom) {
        self->state.timer_at_ms = 0; // re-armed by pump if anything waits
        pump(self);
      },
      [=](flush_atom) { flush(self); },
  };
}

} // namespace

event_queue_actor spawn_event_queue(caf::actor_system& sys, storage::kv_store& store,
                                    event_queue_settings settings, async_invoker_actor invoker) {
  return sys.spawn(event_queue, &store, std::move(settings), std::move(invoker));
}

} // namespace troupe
