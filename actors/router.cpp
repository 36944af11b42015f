#include "actors/router.hpp"

#include "actors/clock.hpp"
#include "actors/policy/host_breakers.hpp"
#include "actors/policy/retry_budget.hpp"
#include "actors/policy/scaling.hpp"
#include "actors/policy/token_bucket.hpp"
#include "actors/protocol/errc.hpp"
#include "net/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>

namespace troupe {

namespace {

using result_promise = caf::typed_response_promise<invocation_result>;

struct waiting {
  invocation inv;
  result_promise rp;
  std::chrono::steady_clock::time_point enqueued_at;
  int attempts = 0;
};

struct instance_slot {
  instance_actor hdl;
  std::string host;          ///< its host's id
  std::string id;            ///< the instance's id (its placement's)
  int64_t idle_since_ms = 0; ///< steady clock
  /// The request it runs (none: idle), answered once: by its reply, when the
  /// instance goes down (a remote one's request would otherwise wait for
  /// good), or by the tick once it is overdue.
  std::shared_ptr<waiting> running;
  /// Steady ms past which the running request has no answer coming: its
  /// function's timeout (which the instance enforces) and a margin.
  int64_t overdue_at_ms = 0;
  bool busy() const { return running != nullptr; }
};

constexpr int max_attempts = 3;
constexpr auto tick_interval = std::chrono::seconds(1);

/// A launch asked of a host and not answered yet.
struct launch_ticket {
  caf::actor_addr host;
  std::string host_id;
  bool settled = false;
};

/// The router's full interface: the ingress's view plus its own retry timer.
using router_impl = managed_router_actor::extend<caf::reacts_to<retry_atom>>;

/// A seed for each new router's backoff jitter. Opening std::random_device
/// for every router was 0.9% of a 500-function launch burst's CPU (perf), so
/// it is read once per thread and the seeds are drawn from that.
uint32_t router_seed() {
  static thread_local std::mt19937 seeds{std::random_device{}()};
  return seeds();
}

struct router_state {
  std::string function;
  router_settings limits;
  scheduler_actor scheduler; ///< null while the control plane is away
  /// Placements asked of the scheduler and not answered, under `epoch`: a
  /// scheduler lost or replaced counts as answering them all, so the late
  /// answers (of another epoch) are ignored.
  int32_t placing = 0;
  uint64_t epoch = 0;
  peer_connector_actor connector;
  function_config cfg;
  std::deque<waiting> queue;
  std::map<caf::actor_addr, instance_slot> instances;
  int32_t starting = 0;
  std::multimap<caf::actor_addr, std::shared_ptr<launch_ticket>> launching; ///< by host
  bool ticking = false;
  bool retiring = false; ///< its ingress made a new router: end once nothing is left
  policy::host_breakers breakers;
  policy::retry_budget budget;
  std::optional<policy::token_bucket> launches; ///< paces new instances (launch_rate)
  /// Requests waiting out their backoff before another attempt, by due time.
  std::multimap<int64_t, waiting> retrying;
  int32_t launch_failures = 0; ///< in a row
  int64_t next_launch_ms = 0;  ///< no launch before (backoff after failed ones)
  int64_t timer_at_ms = 0;     ///< when the next retry_atom comes (0: none armed)
  router_stats counts;
  std::minstd_rand rng{router_seed()};
  /// Its part of the node's metrics: its waiting requests and open breakers.
  std::optional<net::metrics::gauge_share> queued, open_breakers;
  net::metrics::counter *retried = nullptr, *not_retried = nullptr, *failed_launches = nullptr;
  static inline const char* name = "troupe.router";
};

using router_ptr = router_impl::stateful_pointer<router_state>;

void pump(router_ptr self);

/// The instance figures launches are decided on. An idle instance whose
/// host's breaker lets nothing through now serves no one: it counts as busy.
policy::instance_counts counts(const router_state& st) {
  policy::instance_counts c;
  c.queued = static_cast<int32_t>(st.queue.size());
  c.starting = st.starting;
  auto now = steady_ms();
  for (const auto& [_, s] : st.instances)
    (s.busy() || !st.breakers.would_admit(s.host, now) ? c.busy : c.idle) += 1;
  return c;
}

void fail_oldest(router_ptr self, caf::error err) {
  if (self->state.queue.empty())
    return;
  self->state.queue.front().rp.deliver(std::move(err));
  self->state.queue.pop_front();
}

/// Whether an invoke error proves the event never reached a runtime.
bool never_delivered(const caf::error& err) {
  return err == caf::sec::request_receiver_down || err == errc::instance_lost;
}

/// Wakes the router at `at_ms` (or sooner, if it is woken sooner already).
void wake_at(router_ptr self, int64_t at_ms) {
  auto& st = self->state;
  if (st.timer_at_ms != 0 && st.timer_at_ms <= at_ms)
    return;
  st.timer_at_ms = at_ms;
  auto delay = std::max<int64_t>(1, at_ms - steady_ms());
  self->delayed_send(self, std::chrono::milliseconds(delay), retry_atom::value);
}

/// A failed attempt of `w`, which provably never reached a runtime: another
/// attempt after a backoff with full jitter, if the attempt cap, the retry
/// budget and the request's deadline all allow one; else `w` gets `err`.
void retry_or_fail(router_ptr self, waiting w, caf::error err) {
  auto& st = self->state;
  auto now = steady_ms();
  auto delay = policy::full_jitter_ms(st.limits.backoff, w.attempts - 1,
                                      std::uniform_real_distribution<double>{0, 1}(st.rng));
  if (w.attempts >= max_attempts || now_ms() + delay >= w.inv.deadline_ms ||
      !st.budget.try_retry()) {
    ++st.counts.retries_refused;
    st.not_retried->add();
    w.rp.deliver(std::move(err));
    return;
  }
  ++st.counts.retries;
  st.retried->add();
  st.retrying.emplace(now + delay, std::move(w));
  wake_at(self, now + delay);
}

/// Moves requests whose backoff has passed to the front of the queue.
void take_due_retries(router_ptr self) {
  auto& st = self->state;
  auto now = steady_ms();
  std::vector<waiting> due; // oldest due first; they go before the queue, in that order
  while (!st.retrying.empty() && st.retrying.begin()->first <= now) {
    due.push_back(std::move(st.retrying.begin()->second));
    st.retrying.erase(st.retrying.begin());
  }
  for (auto it = due.rbegin(); it != due.rend(); ++it)
    st.queue.push_front(std::move(*it));
  if (!st.retrying.empty())
    wake_at(self, st.retrying.begin()->first);
}

caf::error no_instance_took_it(router_ptr self) {
  // Said as Troupe's own error: to the ingress, request_receiver_down from the
  // router itself would mean the router (the function) is gone.
  return make_error(errc::instance_lost,
                    "no instance of " + self->state.function + " took the request");
}

void dispatch(router_ptr self, waiting w, caf::actor_addr addr) {
  auto& slot = self->state.instances[addr];
  auto run = std::make_shared<waiting>(std::move(w));
  auto host = slot.host;
  auto instance_id = slot.id;
  slot.running = run;
  ++run->attempts;
  ++self->state.counts.attempts;
  auto wait_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - run->enqueued_at)
          .count();
  // No request timeout: CAF 0.17 never cancels one, so each would wake the
  // clock thread twice and deliver a stale timeout to this router later, at
  // every invocation. The instance ends a run at the function's timeout; the
  // tick answers one that is still open well past it (reclaim()).
  slot.overdue_at_ms = steady_ms() + (self->state.cfg.timeout_s + 5) * 1000LL;
  self->request(slot.hdl, caf::infinite, invoke_atom::value, run->inv)
      .then(
          [=](invocation_result& res) {
            res.stats.host = host;
            res.stats.instance = instance_id;
            res.stats.wait_ms = wait_ms;
            res.stats.attempts = run->attempts;
            // The function's own error is a success of the platform's.
            self->state.breakers.on_success(host, steady_ms());
            if (auto it = self->state.instances.find(addr); it != self->state.instances.end()) {
              it->second.idle_since_ms = steady_ms();
              it->second.running.reset();
            }
            if (run->rp.pending())
              run->rp.deliver(std::move(res));
            pump(self);
          },
          [=](caf::error& err) {
            self->state.instances.erase(addr);
            if (!run->rp.pending()) // answered when the instance went down
              return pump(self);
            self->state.breakers.on_failure(host, steady_ms());
            if (never_delivered(err))
              retry_or_fail(self, std::move(*run), no_instance_took_it(self)); // no runtime saw it
            else
              run->rp.deliver(std::move(err));
            pump(self);
          });
}

void host_down(router_ptr self, const caf::actor_addr& host);
void use_scheduler(router_ptr self, scheduler_actor scheduler);

/// An instance went down while the router had a request on its way to it.
/// An instance that ends by itself (drained, timed out, reclaimed) answers
/// what it holds first, so a normal end means the request never reached it:
/// it goes back to the queue. Any other end (its node lost, killed) may have
/// come after the function ran: an explicit error, now.
void answer_lost_request(router_ptr self, waiting& run, const std::string& host,
                         const caf::error& reason) {
  bool normal = !reason || reason == caf::exit_reason::normal;
  if (normal) {
    self->state.breakers.on_cancelled(host); // it tested nothing
    return retry_or_fail(self, std::move(run), no_instance_took_it(self));
  }
  self->state.breakers.on_failure(host, steady_ms());
  run.rp.deliver(make_error(errc::host_lost, "the instance of " + self->state.function +
                                                 " was lost while it ran the request (" +
                                                 self->system().render(reason) +
                                                 "); the function may have run"));
}

/// An instance went down (ended, or its node was lost), or a host with
/// launches on their way, or the scheduler.
void instance_down(router_ptr self, const caf::down_msg& dm) {
  if (self->state.scheduler && dm.source == self->state.scheduler.address())
    return use_scheduler(self, scheduler_actor{});
  auto it = self->state.instances.find(dm.source);
  if (it == self->state.instances.end()) {
    if (self->state.launching.count(dm.source) > 0)
      host_down(self, dm.source);
    return;
  }
  if (auto run = it->second.running; run && run->rp.pending())
    answer_lost_request(self, *run, it->second.host, dm.reason);
  self->state.instances.erase(it);
  pump(self);
}

/// Takes a launch off the books, once: by the host's answer, or by the
/// host's down message (a request to a lost remote host waits for its timeout).
bool settle(router_ptr self, const std::shared_ptr<launch_ticket>& t) {
  if (t->settled)
    return false;
  t->settled = true;
  --self->state.starting;
  auto& on_host = self->state.launching;
  for (auto [it, end] = on_host.equal_range(t->host); it != end; ++it)
    if (it->second == t) {
      on_host.erase(it);
      self->demonitor(t->host);
      break;
    }
  return true;
}

/// Asks `host` for the instance the scheduler placed there.
/// A launch failed (or its host was lost): the next one waits out a backoff,
/// and is a retry, which the budget must allow; if it does not, the oldest
/// request, for which the launch was made, gets the error.
void launch_failed(router_ptr self, const std::string& host_id, caf::error err) {
  auto& st = self->state;
  auto now = steady_ms();
  ++st.counts.launch_failures;
  st.failed_launches->add();
  if (err == errc::no_capacity) { // a full host is not a failing one
    st.breakers.on_cancelled(host_id);
  } else {
    st.breakers.on_failure(host_id, now);
    if (st.scheduler)
      self->send(st.scheduler, outcome_atom::value, host_id, false);
  }
  st.next_launch_ms =
      now + policy::full_jitter_ms(st.limits.backoff, st.launch_failures++,
                                   std::uniform_real_distribution<double>{0, 1}(st.rng));
  if (st.queue.empty())
    return;
  if (st.budget.try_retry()) {
    ++st.counts.retries;
    st.retried->add();
    return;
  }
  ++st.counts.retries_refused;
  st.not_retried->add();
  fail_oldest(self, std::move(err));
}

void launch_on(router_ptr self, const placement& p, host_actor host) {
  auto t = std::make_shared<launch_ticket>(launch_ticket{host.address(), p.host_id, false});
  (void)self->state.breakers.admit(p.host_id, steady_ms()); // a half-open host's probe
  self->state.launching.emplace(t->host, t);
  self->monitor(host);
  self->request(host, std::chrono::seconds(30), launch_atom::value, p.instance_id, self->state.cfg,
                caf::actor_cast<router_actor>(self))
      .then(
          [=](instance_actor& inst) {
            if (!settle(self, t)) { // its host was given up on: not ours any more
              self->send_exit(inst, caf::exit_reason::user_shutdown);
              return;
            }
            self->monitor(inst);
            self->state.instances[inst.address()] =
                instance_slot{inst, t->host_id, p.instance_id, steady_ms(), nullptr};
            self->state.launch_failures = 0;
            self->state.breakers.on_success(t->host_id, steady_ms());
            if (self->state.scheduler)
              self->send(self->state.scheduler, outcome_atom::value, t->host_id, true);
            pump(self);
          },
          [=](caf::error& err) {
            if (!settle(self, t))
              return;
            launch_failed(self, t->host_id, std::move(err));
            pump(self);
          });
}

/// The placement's host, reached directly when this node can connect to it
/// (the launch and every invocation then skip the controller's node).
void start_on(router_ptr self, const placement& p, host_actor host) {
  if (p.host_endpoint.empty() || !self->state.connector)
    return launch_on(self, p, std::move(host));
  self->request(self->state.connector, std::chrono::seconds(6), connect_to_atom::value,
                p.host_endpoint)
      .then([=](bool) { launch_on(self, p, host); },
            [=](caf::error&) { launch_on(self, p, host); });
}

void launch(router_ptr self) {
  auto& st = self->state;
  if (!st.scheduler)
    return fail_oldest(self,
                       make_error(errc::control_plane_down,
                                  "no instance of " + st.function +
                                      " is free and no controller is reachable to start one"));
  ++st.starting;
  ++st.placing;
  ++st.counts.attempts;
  auto epoch = st.epoch;
  self->request(st.scheduler, std::chrono::seconds(10), place_atom::value, st.cfg,
                st.breakers.avoid(steady_ms()))
      .then(
          [=](placement& p, host_actor& host) {
            if (epoch != self->state.epoch)
              return; // counted as failed when its scheduler went
            --self->state.placing;
            start_on(self, p, std::move(host));
          },
          [=](caf::error& err) {
            if (epoch != self->state.epoch)
              return;
            --self->state.placing;
            --self->state.starting;
            fail_oldest(self, std::move(err));
            pump(self);
          });
}

/// The scheduler went (null) or was replaced: placements asked of the old one
/// will not be answered (a request to a lost remote actor waits for its whole
/// timeout), so they count as failed and the queue is pumped again.
void use_scheduler(router_ptr self, scheduler_actor scheduler) {
  auto& st = self->state;
  if (st.scheduler)
    self->demonitor(st.scheduler.address());
  st.starting -= st.placing;
  st.placing = 0;
  ++st.epoch;
  st.scheduler = std::move(scheduler);
  if (st.scheduler)
    self->monitor(st.scheduler);
  pump(self); // launches what the lost placements were for, or refuses them
}

/// A host with launches on their way went down: they will not come, and no
/// request has reached them, so the queue simply launches again elsewhere.
void host_down(router_ptr self, const caf::actor_addr& host) {
  std::vector<std::shared_ptr<launch_ticket>> lost;
  for (auto [it, end] = self->state.launching.equal_range(host); it != end; ++it)
    lost.push_back(it->second);
  for (auto& t : lost)
    if (settle(self, t))
      launch_failed(self, t->host_id,
                    make_error(errc::sandbox_failed, "the host " + t->host_id +
                                                         " was lost while it started an instance"));
  pump(self);
}

void ensure_ticking(router_ptr self) {
  if (self->state.ticking)
    return;
  self->state.ticking = true;
  self->delayed_send(self, tick_interval, reclaim_atom::value);
}

/// A retiring router ends once it holds nothing: no request waiting, backing
/// off or running, no launch on its way. Its instances end with it.
void end_if_done(router_ptr self) {
  auto& st = self->state;
  bool busy = std::any_of(st.instances.begin(), st.instances.end(),
                          [](const auto& kv) { return kv.second.busy(); });
  if (busy || !st.queue.empty() || !st.retrying.empty() || st.starting > 0)
    return;
  for (const auto& [addr, slot] : st.instances) {
    self->demonitor(addr);
    self->send_exit(slot.hdl, caf::exit_reason::user_shutdown);
  }
  st.instances.clear();
  self->quit();
}

/// Hands queued requests to idle instances, then launches what is missing.
void pump(router_ptr self) {
  auto& st = self->state;
  auto now = steady_ms();
  for (auto it = st.instances.begin(); it != st.instances.end() && !st.queue.empty(); ++it) {
    if (it->second.busy() || st.breakers.admit(it->second.host, now) == policy::admission::rejected)
      continue; // an open breaker's host gets nothing but probes
    auto w = std::move(st.queue.front());
    st.queue.pop_front();
    dispatch(self, std::move(w), it->first);
  }
  auto n = policy::launches_needed(counts(st), st.limits.max_instances);
  if (n > 0 && now < st.next_launch_ms)
    wake_at(self, st.next_launch_ms); // backing off after a failed launch
  else
    for (; n > 0; --n) {
      if (!st.launches->take(now)) {
        wake_at(self, now + st.launches->wait_ms(now));
        break;
      }
      launch(self);
    }
  if (!st.queue.empty() || !st.instances.empty())
    ensure_ticking(self);
  st.queued->set(static_cast<double>(st.queue.size()));
  st.open_breakers->set(static_cast<double>(st.breakers.avoid(now, false).size()));
  if (st.retiring)
    end_if_done(self);
}

/// Periodic work: reclaim instances idle past keep-alive, expire long waits.
void reclaim(router_ptr self) {
  auto& st = self->state;
  st.ticking = false;
  // Waits and idle times on the steady clock: a step of the wall clock must
  // neither expire every wait nor keep idle instances for good. Deadlines
  // are wall-clock times (they cross nodes), seen on the steady clock here.
  auto now = steady_ms();
  auto wall_to_steady = now - now_ms();
  bool lost_one = false;
  for (auto it = st.instances.begin(); it != st.instances.end();) {
    auto& s = it->second;
    bool idle_too_long =
        !s.busy() && policy::keep_alive_expired(s.idle_since_ms, now, st.limits.keep_alive_ms);
    bool overdue = s.busy() && now >= s.overdue_at_ms;
    if (!idle_too_long && !overdue) {
      ++it;
      continue;
    }
    self->demonitor(s.hdl.address());
    self->send_exit(s.hdl,
                    idle_too_long ? caf::exit_reason::user_shutdown : caf::exit_reason::kill);
    if (overdue) { // the instance is stuck: it goes, and so does its host's credit
      st.breakers.on_failure(s.host, now);
      if (s.running->rp.pending())
        s.running->rp.deliver(caf::make_error(caf::sec::request_timeout));
      lost_one = true;
    }
    it = st.instances.erase(it);
  }
  while (!st.queue.empty() &&
         policy::wait_expired(steady_ms(st.queue.front().enqueued_at),
                              st.queue.front().inv.deadline_ms + wall_to_steady, now,
                              st.limits.max_wait_ms))
    fail_oldest(self, make_error(errc::too_many_requests,
                                 "no instance of " + st.function + " became free in time"));
  if (lost_one)
    pump(self); // what waits may need an instance in place of the stuck one
  if (!st.queue.empty() || !st.instances.empty())
    ensure_ticking(self);
}

caf::result<invocation_result> invoke(router_ptr self, invocation inv) {
  auto& st = self->state;
  if (st.cfg.reserved_concurrency == 0)
    return make_error(errc::reserved_limit,
                      "Rate Exceeded: " + st.function + " has a reserved concurrency of 0");
  // An instance being started is spoken for: it takes a request from the
  // queue once ready. So the queue holds max_queue more than those, and the
  // router holds what it granted the ingress (router_capacity), no less.
  if (static_cast<int32_t>(st.queue.size()) >= st.limits.max_queue + st.starting) {
    ++st.counts.refused;
    return queue_full(st.function);
  }
  auto rp = self->make_response_promise<invocation_result>();
  st.queue.push_back(waiting{std::move(inv), rp, std::chrono::steady_clock::now(), 0});
  st.budget.on_request();
  ++st.counts.requests;
  pump(self);
  return rp;
}

router_stats stats(router_ptr self) {
  auto& st = self->state;
  auto out = st.counts;
  out.function = st.cfg.id();
  out.instances = static_cast<int32_t>(st.instances.size());
  out.queued = static_cast<int32_t>(st.queue.size() + st.retrying.size());
  st.breakers.for_each([&](const std::string& host, const policy::breaker& b) {
    out.breakers.push_back(
        {host, policy::to_string(b.state()), b.reason(), b.times_opened(), b.rejected()});
  });
  return out;
}

router_impl::behavior_type router(router_ptr self, function_config cfg, router_settings limits,
                                  scheduler_actor scheduler, peer_connector_actor connector) {
  auto& st = self->state;
  st.function = cfg.name;
  auto& reg = net::metrics::registry::node();
  net::metrics::labels fn{{"tenant", cfg.tenant}, {"function", cfg.name}};
  st.queued.emplace(reg.get_gauge("troupe_queue_depth",
                                  "Invocations waiting in their function's router queues", fn));
  st.retried = &reg.get_counter("troupe_retries_total",
                                "Attempts a router made again after a failed one", fn);
  st.not_retried =
      &reg.get_counter("troupe_retries_refused_total",
                       "Retries the retry budget or the request's deadline did not allow", fn);
  st.failed_launches =
      &reg.get_counter("troupe_launch_failures_total", "Instance launches that failed", fn);
  st.open_breakers.emplace(reg.get_gauge(
      "troupe_open_breakers", "Hosts whose breaker is open in a function's routers", fn));
  st.cfg = std::move(cfg);
  st.limits = limits;
  st.limits.max_instances = instance_cap(limits, st.cfg);
  st.breakers = policy::host_breakers{limits.breaker};
  st.budget = policy::retry_budget{limits.retry_ratio};
  st.launches.emplace(limits.launch_rate, std::max(1.0, limits.launch_burst));
  st.connector = std::move(connector);
  if (scheduler) {
    st.scheduler = std::move(scheduler);
    self->monitor(st.scheduler);
  }
  self->set_down_handler([=](const caf::down_msg& dm) { instance_down(self, dm); });
  return {
      [=](invoke_atom, invocation inv) { return invoke(self, std::move(inv)); },
      [=](reclaim_atom) { reclaim(self); },
      [=](join_atom, scheduler_actor scheduler) { use_scheduler(self, std::move(scheduler)); },
      [=](stats_atom) { return stats(self); },
      [=](drain_atom) {
        self->state.retiring = true;
        pump(self);
      },
      [=](retry_atom) {
        self->state.timer_at_ms = 0; // re-armed below if anything waits
        take_due_retries(self);
        pump(self);
      },
  };
}

} // namespace

caf::error queue_full(const std::string& function) {
  return make_error(errc::too_many_requests,
                    "Rate Exceeded: the wait queue of " + function + " is full");
}

int32_t instance_cap(const router_settings& limits, const function_config& cfg) {
  if (cfg.reserved_concurrency >= 0) // the reservation is a cap too
    return std::min(limits.max_instances, cfg.reserved_concurrency);
  return limits.max_instances;
}

managed_router_actor spawn_router(caf::actor_system& sys, function_config cfg,
                                  router_settings settings, scheduler_actor scheduler,
                                  peer_connector_actor connector) {
  return caf::actor_cast<managed_router_actor>(
      sys.spawn(router, std::move(cfg), settings, std::move(scheduler), std::move(connector)));
}

} // namespace troupe
