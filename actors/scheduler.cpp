#include "actors/scheduler.hpp"

#include "actors/clock.hpp"
#include "actors/fan_in.hpp"
#include "actors/group_commit.hpp"
#include "actors/policy/host_breakers.hpp"
#include "actors/policy/placement.hpp"
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
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

namespace troupe {

namespace {

struct host_entry {
  host_actor handle;
  host_info info; ///< free_slots and draining kept current
  std::map<std::string, int32_t> instances_by_function;
  std::map<std::string, int32_t> instances_by_tenant;
  std::set<std::string> packages; ///< reported at registration, and placed on it since
  int32_t launching = 0;          ///< instances placed here and not ready yet
};

/// Whether an instance in `state` is still being launched.
bool launching(const std::string& state) {
  return state == "placed" || state == "starting";
}

struct instance_entry {
  placement record;
  int32_t slots = 0;
};

/// The scheduler's full interface: the public one plus its own flush and the
/// end of the reconciliation grace time.
using scheduler_impl =
    scheduler_actor::extend<caf::reacts_to<flush_atom>, caf::reacts_to<expire_atom>>;

struct scheduler_state {
  storage::kv_store* store = nullptr;
  scheduler_settings cfg;
  /// Changes not written yet, and what waits for them (a placement's answer).
  /// State transitions alone go to the WAL unflushed: what a power loss
  /// takes, reconciliation with the hosts puts right.
  group_commit batch;
  std::map<std::string, host_entry> hosts;
  std::unordered_map<std::string, instance_entry> instances;
  /// Placements of an earlier run whose host has not registered again, by host.
  std::map<std::string, std::vector<placement>> unconfirmed;
  uint64_t next_id = 1;
  std::string incarnation;
  /// Functions with reserved concurrency (from the controller): tenant and amount.
  std::map<std::string, std::pair<std::string, int32_t>> reserved;
  std::map<std::string, int64_t> reserved_by_tenant; ///< the sum of a tenant's
  policy::host_breakers breakers;                    ///< of each host's launches, all functions
  static inline const char* name = "troupe.scheduler";
};

using scheduler_ptr = scheduler_impl::stateful_pointer<scheduler_state>;

/// Queues a change for the next group commit.
void stage(scheduler_ptr self, storage::kv_store::change c, group_commit::on_written then = {}) {
  if (self->state.batch.stage(std::move(c), std::move(then)))
    self->send(self, flush_atom::value); // behind everything already in the mailbox
}

void persist(scheduler_ptr self, const placement& p,
             std::function<void(const std::string&)> then = {}) {
  stage(self, {placement_key(p.instance_id), encode(self->system(), p)}, std::move(then));
}

void flush(scheduler_ptr self) {
  if (auto error = self->state.batch.flush(*self->state.store); !error.empty())
    net::log::error("placement_write_failed", "placement store write failed: " + error);
}

/// The node's metrics of `host`'s breaker: 1 for its state, 0 for the others.
void publish_breaker(const std::string& host, const policy::breaker* b) {
  using policy::breaker_state;
  auto now = b ? b->state() : breaker_state::closed;
  for (auto state : {breaker_state::closed, breaker_state::open, breaker_state::half_open})
    net::metrics::registry::node()
        .get_gauge("troupe_host_breaker",
                   "The scheduler's breaker of each host's launches, by state",
                   {{"host", host}, {"state", policy::to_string(state)}})
        .set(state == now ? 1 : 0);
}

/// Placements of an earlier run of the controller: their instances may
/// still run on hosts, which say so when they register again. Records of
/// lost instances are dropped now.
void load_previous(scheduler_ptr self) {
  auto& st = self->state;
  std::vector<std::string> lost;
  size_t kept = 0;
  st.store->scan("pl/", [&](std::string_view, std::string_view v) {
    auto p = decode_placement(self->system(), v);
    if (!p)
      return true;
    if (p->state == "lost") {
      lost.push_back(p->instance_id);
    } else {
      st.unconfirmed[p->host_id].push_back(std::move(*p));
      ++kept;
    }
    return true;
  });
  for (auto& id : lost)
    st.store->erase(placement_key(id));
  if (kept > 0) {
    net::log::info("placements_loaded",
                   std::to_string(kept) + " placements of an earlier run wait for their hosts")
        .field("count", kept);
    self->delayed_send(self, std::chrono::milliseconds(st.cfg.reconcile_grace_ms),
                       expire_atom::value);
  }
}

/// Counts an instance in (+1) or out (-1) of its host's tallies.
void tally(host_entry& h, const placement& rec, int32_t delta) {
  for (auto [counts, key] : {std::pair{&h.instances_by_function, &rec.function},
                             std::pair{&h.instances_by_tenant, &rec.tenant}})
    if (((*counts)[*key] += delta) <= 0)
      counts->erase(*key);
}

/// Gives an instance's slots back and forgets it; false if it was unknown.
bool release_reservation(scheduler_ptr self, const std::string& instance_id) {
  auto& st = self->state;
  auto it = st.instances.find(instance_id);
  if (it == st.instances.end())
    return false;
  auto& rec = it->second.record;
  if (auto h = st.hosts.find(rec.host_id); h != st.hosts.end()) {
    h->second.info.free_slots += it->second.slots;
    if (launching(rec.state))
      --h->second.launching;
    tally(h->second, rec, -1);
  }
  st.instances.erase(it);
  return true;
}

std::vector<policy::host_view> views(const scheduler_state& st, const function_config& cfg,
                                     const policy::tenancy& tenancy) {
  std::vector<policy::host_view> out;
  for (const auto& [id, h] : st.hosts) {
    if (h.info.draining)
      continue;
    auto it = h.instances_by_function.find(cfg.id());
    policy::host_view v{id,
                        h.info.free_slots,
                        it == h.instances_by_function.end() ? 0 : it->second,
                        h.info.zone,
                        h.packages.count(cfg.package) > 0,
                        h.launching,
                        {},
                        {}};
    for (const auto& [tenant, _] : h.instances_by_tenant) {
      if (tenancy.dedicated) // only a dedicated tenant's placement looks at them
        v.tenants.insert(tenant);
      if (st.cfg.dedicated_tenants.count(tenant) > 0)
        v.dedicated_to = tenant;
    }
    out.push_back(std::move(v));
  }
  return out;
}

/// Instances of `function` on every host, launching ones included.
int32_t instances_of(const scheduler_state& st, const std::string& function) {
  int32_t n = 0;
  for (const auto& [_, h] : st.hosts)
    if (auto it = h.instances_by_function.find(function); it != h.instances_by_function.end())
      n += it->second;
  return n;
}

/// The host to place on: one not in `avoid` if any fits, else any that fits.
std::optional<size_t> choose(const std::vector<policy::host_view>& hosts, int32_t slots,
                             const policy::tenancy& tenancy,
                             const std::vector<std::string>& avoid) {
  if (avoid.empty())
    return policy::choose_host(hosts, slots, tenancy);
  std::vector<size_t> index;
  std::vector<policy::host_view> preferred;
  for (size_t i = 0; i < hosts.size(); ++i)
    if (std::find(avoid.begin(), avoid.end(), hosts[i].id) == avoid.end()) {
      index.push_back(i);
      preferred.push_back(hosts[i]);
    }
  if (auto pick = policy::choose_host(preferred, slots, tenancy))
    return index[*pick];
  return policy::choose_host(hosts, slots, tenancy);
}

/// Why the function or its tenant may not have another instance now (none: it may).
caf::error over_limit(const scheduler_state& st, const function_config& cfg) {
  auto it = st.reserved.find(cfg.id());
  auto reserved = it == st.reserved.end() ? -1 : it->second.second;
  auto cap = reserved >= 0 ? std::min(reserved, st.cfg.max_instances_per_function)
                           : st.cfg.max_instances_per_function;
  if (instances_of(st, cfg.id()) >= cap)
    return make_error(reserved >= 0 ? errc::reserved_limit : errc::too_many_requests,
                      "Rate Exceeded: " + cfg.name + " has its limit of " + std::to_string(cap) +
                          " instances across the cluster");
  if (reserved >= 0 || st.cfg.tenant_instances <= 0)
    return {};
  int64_t unreserved = 0; // the tenant's instances, less those of its reserved functions
  for (const auto& [_, h] : st.hosts)
    if (auto t = h.instances_by_tenant.find(cfg.tenant); t != h.instances_by_tenant.end())
      unreserved += t->second;
  for (const auto& [fn, r] : st.reserved)
    if (r.first == cfg.tenant)
      unreserved -= instances_of(st, fn);
  auto by_tenant = st.reserved_by_tenant.find(cfg.tenant);
  auto pool =
      st.cfg.tenant_instances - (by_tenant == st.reserved_by_tenant.end() ? 0 : by_tenant->second);
  if (unreserved >= pool)
    return make_error(errc::too_many_requests, "Rate Exceeded: tenant " + cfg.tenant +
                                                   " uses all " + std::to_string(pool) +
                                                   " instances its reservations leave");
  return {};
}

/// The controller set (or, with -1, removed) a function's reservation.
void reserve(scheduler_ptr self, const std::string& tenant, const std::string& function,
             int32_t reserved) {
  auto& st = self->state;
  if (auto it = st.reserved.find(function); it != st.reserved.end()) {
    st.reserved_by_tenant[it->second.first] -= it->second.second;
    st.reserved.erase(it);
  }
  if (reserved < 0)
    return;
  st.reserved[function] = {tenant, reserved};
  st.reserved_by_tenant[tenant] += reserved;
}

caf::result<placement, host_actor> place(scheduler_ptr self, const function_config& cfg,
                                         const std::vector<std::string>& avoid) {
  auto& st = self->state;
  if (auto refused = over_limit(st, cfg))
    return refused;
  auto slots = policy::slots_for(cfg.memory_mb);
  policy::tenancy tenancy{cfg.tenant, st.cfg.dedicated_tenants.count(cfg.tenant) > 0};
  auto hosts = views(st, cfg, tenancy);
  auto now = steady_ms();
  // Only open breakers: one failed launch is the router's to steer around
  // (it avoids that host for its retry), a run of them the cluster's.
  auto shunned = st.breakers.avoid(now, false);
  shunned.insert(shunned.end(), avoid.begin(), avoid.end());
  auto chosen = choose(hosts, slots, tenancy, shunned);
  if (!chosen)
    return make_error(errc::no_capacity,
                      "no host has " + std::to_string(slots * 128) + " MB free for " + cfg.name +
                          (tenancy.dedicated ? " among those that run nothing of other tenants"
                                             : " among those it may share"));
  auto host_id = hosts[*chosen].id;
  (void)st.breakers.admit(host_id, now); // after a cool-down, this launch is the probe
  auto& host = st.hosts[host_id];
  placement p{st.incarnation + "-" + std::to_string(st.next_id++),
              cfg.id(),
              host_id,
              "placed",
              now_ms(),
              slots,
              host.info.endpoint,
              cfg.tenant};
  // Reserved now, so that placements in the same commit see each other.
  host.info.free_slots -= slots;
  tally(host, p, +1);
  host.launching += 1;
  host.packages.insert(cfg.package); // it fetches the package to start the instance
  st.instances[p.instance_id] = {p, slots};
  auto rp = self->make_response_promise<placement, host_actor>();
  persist(self, p, [self, rp, p, handle = host.handle](const std::string& error) mutable {
    if (!error.empty()) {
      release_reservation(self, p.instance_id);
      rp.deliver(make_error(errc::storage_failed, "placement write failed: " + error));
      return;
    }
    rp.deliver(p, handle);
  });
  return rp;
}

void release(scheduler_ptr self, const std::string& instance_id) {
  if (release_reservation(self, instance_id))
    stage(self, {placement_key(instance_id), std::nullopt});
}

void record_state(scheduler_ptr self, const std::string& instance_id, const std::string& state) {
  auto it = self->state.instances.find(instance_id);
  if (it == self->state.instances.end())
    return;
  auto& rec = it->second.record;
  if (launching(rec.state) && !launching(state))
    if (auto h = self->state.hosts.find(rec.host_id); h != self->state.hosts.end())
      --h->second.launching;
  rec.state = state;
  rec.updated_ms = now_ms();
  persist(self, rec);
}

/// The instances placed on host `host_id`.
std::vector<std::string> placed_on(const scheduler_state& st, const std::string& host_id) {
  std::vector<std::string> out;
  for (const auto& [id, inst] : st.instances)
    if (inst.record.host_id == host_id)
      out.push_back(id);
  return out;
}

/// Marks a placement lost on disk and forgets it (its slots were the host's).
void lose(scheduler_ptr self, placement rec) {
  self->state.instances.erase(rec.instance_id);
  rec.state = "lost";
  rec.updated_ms = now_ms();
  persist(self, rec);
}

/// Forgets a host and the instances placed on it: they are lost with it, and
/// their records say so (until the next start of the controller clears them).
void forget_host(scheduler_ptr self, std::map<std::string, host_entry>::iterator it) {
  for (auto& id : placed_on(self->state, it->first))
    lose(self, self->state.instances.at(id).record);
  self->state.hosts.erase(it);
}

bool drain(scheduler_ptr self, const std::string& host_id, bool on) {
  auto it = self->state.hosts.find(host_id);
  if (it == self->state.hosts.end())
    return false;
  it->second.info.draining = on;
  for (auto& id : placed_on(self->state, host_id))
    record_state(self, id, on ? "draining" : "ready");
  self->send(it->second.handle, drain_atom::value, on);
  return true;
}

/// Recomputes what the scheduler counts on a host from the instances placed there.
void recount(scheduler_state& st, host_entry& h) {
  h.instances_by_function.clear();
  h.instances_by_tenant.clear();
  h.launching = 0;
  for (const auto& [_, inst] : st.instances)
    if (inst.record.host_id == h.info.id) {
      tally(h, inst.record, +1);
      h.launching += launching(inst.record.state) ? 1 : 0;
    }
}

/// Squares the placements recorded for a host that (re)registers with what
/// it reports running: reported and recorded ones are kept (ready, or
/// draining), reported ones without a placement are orphans and are drained,
/// recorded ones it does not run are lost. Launches of this run still on
/// their way to it are left alone.
void reconcile(scheduler_ptr self, host_entry& h, const std::vector<placement>& running) {
  auto& st = self->state;
  std::map<std::string, placement> recorded;
  if (auto earlier = st.unconfirmed.extract(h.info.id))
    for (auto& p : earlier.mapped())
      recorded.emplace(p.instance_id, std::move(p));
  for (const auto& [id, inst] : st.instances)
    if (inst.record.host_id == h.info.id)
      recorded.emplace(id, inst.record);
  size_t kept = 0, orphans = 0, lost = 0;
  for (const auto& r : running) {
    auto rec = r;
    rec.host_id = h.info.id;
    rec.host_endpoint = h.info.endpoint;
    rec.updated_ms = now_ms();
    if (recorded.erase(r.instance_id) > 0) {
      ++kept;
    } else {
      rec.state = "draining";
      self->send(h.handle, orphan_atom::value, r.instance_id);
      ++orphans;
    }
    st.instances[rec.instance_id] = {rec, rec.slots};
    persist(self, rec);
  }
  for (auto& [id, rec] : recorded) {
    auto it = st.instances.find(id);
    if (it != st.instances.end() && launching(it->second.record.state))
      continue; // placed in this run: its launch is on its way
    lose(self, std::move(rec));
    ++lost;
  }
  recount(st, h);
  if (kept + orphans + lost > 0)
    net::log::info("host_reconciled", "host " + h.info.id + " reconciled: " + std::to_string(kept) +
                                          " kept, " + std::to_string(orphans) +
                                          " orphans drained, " + std::to_string(lost) + " lost")
        .field("host", h.info.id)
        .field("kept", kept)
        .field("orphans", orphans)
        .field("lost", lost);
}

/// A host registers, or registers again after its connection came back (a
/// new handle), reporting what it runs.
void host_up(scheduler_ptr self, host_info info, host_actor hdl) {
  auto& st = self->state;
  if (auto it = st.hosts.find(info.id); it != st.hosts.end()) {
    if (it->second.handle == hdl)
      return;
    self->demonitor(it->second.handle.address());
  }
  self->monitor(hdl);
  net::log::info("host_joined", "host " + info.id + " joined (zone " + info.zone + ", " +
                                    std::to_string(info.slots) + " slots)")
      .field("host", info.id)
      .field("zone", info.zone)
      .field("slots", info.slots);
  auto id = info.id;
  auto running = std::move(info.running);
  std::set<std::string> packages(info.packages.begin(), info.packages.end());
  info.packages.clear(); // kept as the set
  info.running.clear();
  auto& h = st.hosts[id] = host_entry{std::move(hdl), std::move(info), {}, {}, std::move(packages)};
  publish_breaker(id, st.breakers.find(id));
  reconcile(self, h, running);
}

/// The grace time is over: hosts that have not come back lost their instances.
void expire_unconfirmed(scheduler_ptr self) {
  auto waiting = std::move(self->state.unconfirmed);
  self->state.unconfirmed.clear();
  for (auto& [host, placements] : waiting) {
    net::log::warn("host_not_back", "host " + host + " did not come back: " +
                                        std::to_string(placements.size()) + " placements lost")
        .field("host", host)
        .field("lost", placements.size());
    for (auto& p : placements)
      lose(self, std::move(p));
  }
}

std::vector<host_status> list_hosts(scheduler_ptr self) {
  std::vector<host_status> out;
  for (const auto& [id, h] : self->state.hosts) {
    int32_t n = 0;
    for (const auto& [fn, count] : h.instances_by_function)
      n += count;
    auto* b = self->state.breakers.find(id);
    out.push_back(
        {h.info, n, b ? policy::to_string(b->state()) : "closed", b ? b->reason() : std::string{}});
  }
  return out;
}

/// Asks every host for the function's latest logs; answers once each has
/// answered or failed to (a host that cannot answer is left out).
caf::result<std::vector<host_log>> gather_logs(scheduler_ptr self, const std::string& function_id,
                                               int32_t max_bytes) {
  auto& hosts = self->state.hosts;
  if (hosts.empty())
    return std::vector<host_log>{};
  auto g = make_fan_in<host_log>(self, hosts.size());
  for (const auto& [id, h] : hosts)
    self->request(h.handle, std::chrono::seconds(5), logs_atom::value, function_id, max_bytes)
        .then(
            [g, host = id](std::string& log) {
              if (!log.empty())
                g->got.push_back({host, std::move(log)});
              g->one_done();
            },
            [g](caf::error&) { g->one_done(); });
  return g->rp;
}

/// Every host's instances; answers once each host has answered or failed to.
caf::result<std::vector<instance_status>> gather_instances(scheduler_ptr self) {
  auto& hosts = self->state.hosts;
  if (hosts.empty())
    return std::vector<instance_status>{};
  auto g = make_fan_in<instance_status>(self, hosts.size());
  for (const auto& [id, h] : hosts)
    self->request(h.handle, std::chrono::seconds(5), instances_atom::value)
        .then(
            [g](std::vector<instance_status>& some) {
              g->got.insert(g->got.end(), std::make_move_iterator(some.begin()),
                            std::make_move_iterator(some.end()));
              g->one_done();
            },
            [g](caf::error&) { g->one_done(); });
  return g->rp;
}

void host_down(scheduler_ptr self, const caf::actor_addr& who) {
  auto& st = self->state;
  for (auto it = st.hosts.begin(); it != st.hosts.end(); ++it) {
    if (it->second.handle.address() != who)
      continue;
    net::log::warn("host_gone", "host " + it->first + " is gone").field("host", it->first);
    forget_host(self, it);
    return;
  }
}

scheduler_impl::behavior_type scheduler(scheduler_ptr self, storage::kv_store* store,
                                        scheduler_settings cfg) {
  self->state.store = store;
  self->state.cfg = cfg;
  self->state.breakers = policy::host_breakers{cfg.breaker};
  self->state.incarnation = std::to_string(now_ms());
  load_previous(self);
  self->set_down_handler([=](const caf::down_msg& dm) { host_down(self, dm.source); });
  return {
      [=](place_atom, const function_config& cfg, const std::vector<std::string>& avoid) {
        return place(self, cfg, avoid);
      },
      [=](reserve_atom, const std::string& tenant, const std::string& function, int32_t n) {
        reserve(self, tenant, function, n);
      },
      [=](outcome_atom, const std::string& host, bool ok) {
        auto& breakers = self->state.breakers;
        if (ok)
          breakers.on_success(host, steady_ms());
        else
          breakers.on_failure(host, steady_ms());
        publish_breaker(host, breakers.find(host));
      },
      [=](state_atom, const std::string& id, const std::string& st) { record_state(self, id, st); },
      [=](release_atom, const std::string& id) { release(self, id); },
      [=](host_up_atom, host_info info, host_actor hdl) {
        host_up(self, std::move(info), std::move(hdl));
      },
      [=](hosts_atom) { return list_hosts(self); },
      [=](instances_atom) { return gather_instances(self); },
      [=](logs_atom, const std::string& function_id, int32_t max_bytes) {
        return gather_logs(self, function_id, max_bytes);
      },
      [=](drain_atom, const std::string& id, bool on) { return drain(self, id, on); },
      [=](flush_atom) { flush(self); },
      [=](expire_atom) { expire_unconfirmed(self); },
  };
}

} // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, storage::kv_store& store,
                                scheduler_settings settings) {
  return sys.spawn(scheduler, &store, settings);
}

} // namespace troupe
