#include "actors/host.hpp"

#include "actors/clock.hpp"
#include "actors/fan_in.hpp"
#include "actors/instance.hpp"
#include "actors/instance_env.hpp"
#include "actors/policy/placement.hpp"
#include "actors/policy/token_bucket.hpp"
#include "actors/pool.hpp"
#include "actors/protocol/errc.hpp"
#include "net/lambda_api.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"
#include "runtime/cgroup.hpp"
#include "storage/log_store.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace troupe {

namespace {

struct running {
  std::string instance_id;
  std::string function;
  std::string tenant;
  int32_t slots = 0;
  int64_t started_ms = 0; ///< wall clock, when the launch came
  std::string package;    ///< pinned while the instance runs ("" before it is prepared)
};

/// The host's full interface: the node's view plus its own launch pacing tick.
using host_impl = host_node_actor::extend<caf::reacts_to<token_atom>>;

/// Reads functions' logs for the host: the file reads (and the wait for the
/// store's writer) stay off the host's own actor, which launches.
using log_reader_actor =
    caf::typed_actor<caf::replies_to<logs_atom, std::string, int32_t>::with<std::string>>;

log_reader_actor::behavior_type log_reader(log_reader_actor::pointer, storage::log_store* logs) {
  return {
      [=](logs_atom, const std::string& function_id, int32_t max_bytes) {
        return logs->tail(function_id, static_cast<std::size_t>(std::max(0, max_bytes)));
      },
  };
}

struct host_state {
  host_settings cfg;
  std::optional<policy::token_bucket> launches; ///< paces starts (launch_rate)
  std::deque<std::function<void()>> paced;      ///< starts waiting for a token
  bool pacing = false;                          ///< a token_atom is on its way
  scheduler_actor scheduler;
  int32_t free_slots = 0;
  bool draining = false; ///< takes no launches, and its instances end once idle
  std::map<std::pair<std::string, int32_t>, pool_actor> pools; ///< by (runtime family, memory MB)
  std::vector<template_maker_actor> makers;
  std::vector<template_claimer_actor> claimers;
  refill_pacer_actor pacer;    ///< one token bucket for every pool's refills
  log_reader_actor log_reader; ///< none without a log store
  size_t next_claimer = 0;
  std::map<caf::actor_addr, running> instances;
  /// Each instance's egress proxy, while it lives.
  std::map<caf::actor_addr, std::unique_ptr<net::egress_proxy>> proxies;
  /// Launches under way, by instance id, and those of them the scheduler
  /// called orphans meanwhile (drained as soon as they run).
  std::map<std::string, running> starting;
  std::set<std::string> orphaned;
  net::metrics::gauge* slots_free = nullptr; ///< the node's metrics of it
  net::metrics::gauge* instances_starting = nullptr;
  static inline const char* name = "troupe.host";
};

using host_ptr = host_impl::stateful_pointer<host_state>;

/// Starts what the launch bucket allows now; the rest waits for its tokens.
void start_paced(host_ptr self) {
  auto& st = self->state;
  st.pacing = false;
  auto now = steady_ms();
  while (!st.paced.empty() && st.launches->take(now)) {
    auto start = std::move(st.paced.front());
    st.paced.pop_front();
    start();
  }
  if (st.paced.empty())
    return;
  st.pacing = true;
  self->delayed_send(self, std::chrono::milliseconds(st.launches->wait_ms(now)), token_atom::value);
}

/// Runs `start` now if the launch bucket has a token and nothing waits, else in turn.
void paced(host_ptr self, std::function<void()> start) {
  auto& st = self->state;
  if (st.paced.empty() && st.launches->take(steady_ms()))
    return start();
  st.paced.push_back(std::move(start));
  if (!st.pacing)
    start_paced(self);
}

/// Cgroups of sandboxes whose node died (SIGKILL, crash): their processes
/// would otherwise run on, unaccounted.
void remove_stale_sandboxes() {
  std::string error;
  auto layout = runtime::host_cgroup_layout(error);
  if (!layout) {
    net::log::error("no_cgroups", "no cgroups for sandboxes: " + error);
    return;
  }
  auto removed = runtime::remove_stale_cgroups(*layout, error);
  if (removed > 0)
    net::log::info("stale_sandboxes_removed",
                   "removed " + std::to_string(removed) + " sandboxes left by an earlier run")
        .field("count", removed);
  if (!error.empty())
    net::log::warn("stale_sandbox_cleanup", "stale sandbox cleanup: " + error);
}
using instance_promise = caf::typed_response_promise<instance_actor>;

pool_actor pool_for(host_ptr self, const std::string& family, int32_t memory_mb) {
  auto& st = self->state;
  auto key = std::make_pair(family, memory_mb);
  if (auto it = st.pools.find(key); it != st.pools.end())
    return it->second;
  template_inputs in{
      st.cfg.init_path,    st.cfg.run_dir + "/" + family + "-" + std::to_string(memory_mb),
      st.cfg.runtimes_dir, st.cfg.tmp_mb,
      st.cfg.pids_max,     st.cfg.uid_base,
      st.cfg.uid_count,    uint16_t(st.cfg.egress ? 3128 : 0)};
  policy::pool_bounds bounds{int32_t(st.cfg.pool_min), int32_t(st.cfg.pool_max), 1.0};
  auto p = spawn_pool(self->system(), template_for(family, memory_mb, in), bounds, st.makers,
                      st.pacer, family);
  self->link_to(p);
  st.pools.emplace(key, p);
  return p;
}

/// Sets the metrics of the host's slots and launches, after they changed.
void publish(host_ptr self) {
  auto& st = self->state;
  st.slots_free->set(st.free_slots);
  st.instances_starting->set(static_cast<double>(st.starting.size()));
}

/// Gives the reserved slots back, here and at the scheduler, and the
/// package pin the instance held (if it got that far).
void give_back(host_ptr self, const std::string& instance_id, int32_t slots,
               const std::string& package = {}) {
  if (!package.empty())
    self->state.cfg.packages->unpin(package);
  self->state.starting.erase(instance_id);
  self->state.orphaned.erase(instance_id);
  self->state.free_slots += slots;
  publish(self);
  self->send(self->state.scheduler, release_atom::value, instance_id);
}

void start_in(host_ptr self, sandbox_lease lease, std::string id, function_config cfg,
              std::string code_dir, router_actor router, instance_promise rp, int attempt);

/// Takes a sandbox from the pool; a start failure retries once with a fresh
/// one. `code_dir` is the prepared (pinned) package's directory.
void acquire_and_start(host_ptr self, std::string id, function_config cfg, std::string code_dir,
                       router_actor router, instance_promise rp, int attempt) {
  auto family = template_family(cfg);
  self->request(pool_for(self, family, cfg.memory_mb), std::chrono::seconds(15),
                acquire_atom::value)
      .then(
          [=](sandbox_lease lease) mutable {
            start_in(self, std::move(lease), id, cfg, code_dir, router, rp, attempt);
          },
          [=](caf::error& err) mutable {
            give_back(self, id, policy::slots_for(cfg.memory_mb), cfg.package);
            rp.deliver(std::move(err));
          });
}

void run_instance(host_ptr self, sandbox_lease lease, const std::string& id,
                  const function_config& cfg, router_actor router, instance_promise rp) {
  auto& st = self->state;
  net::arn_scope scope{st.cfg.region};
  int proxy_fd = lease.box->release_proxy_fd();
  auto inst =
      spawn_instance(self->system(), std::move(lease.box), cfg,
                     scope.function_arn(cfg.tenant, cfg.name), router, *st.cfg.io, st.cfg.logs);
  self->monitor(inst);
  if (proxy_fd >= 0)
    st.proxies[inst.address()] = std::make_unique<net::egress_proxy>(
        *st.cfg.io, proxy_fd,
        gateway_opener(self->system(), st.cfg.egress, cfg.tenant, st.cfg.egress_open_timeout_ms));
  auto launched = st.starting.find(id);
  st.instances[inst.address()] =
      running{id,
              cfg.id(),
              cfg.tenant,
              policy::slots_for(cfg.memory_mb),
              launched != st.starting.end() ? launched->second.started_ms : now_ms(),
              cfg.package};
  st.starting.erase(id);
  publish(self);
  self->send(st.scheduler, state_atom::value, id, std::string{"ready"});
  if (st.orphaned.erase(id) > 0)
    self->send(inst, drain_atom::value); // its router's request goes elsewhere
  rp.deliver(inst);
}

void start_in(host_ptr self, sandbox_lease lease, std::string id, function_config cfg,
              std::string code_dir, router_actor router, instance_promise rp, int attempt) {
  auto& st = self->state;
  spec_inputs in{code_dir, st.cfg.region, lease.box->runtime_api_address()};
  in.proxy = lease.box->proxy_address();
  in.instance_id = id;
  in.now_ms = now_ms();
  self->send(st.scheduler, state_atom::value, id, std::string{"starting"});
  auto claimer = st.claimers[st.next_claimer++ % st.claimers.size()];
  self->request(claimer, std::chrono::seconds(15), claim_atom::value, std::move(lease),
                make_sandbox_spec(cfg, in))
      .then(
          [=](sandbox_lease& started) mutable {
            run_instance(self, std::move(started), id, cfg, router, rp);
          },
          [=](caf::error& err) mutable {
            if (attempt == 0)
              return acquire_and_start(self, id, cfg, code_dir, router, rp, 1);
            give_back(self, id, policy::slots_for(cfg.memory_mb), cfg.package);
            rp.deliver(std::move(err));
          });
}

caf::result<instance_actor> launch(host_ptr self, std::string id, function_config cfg,
                                   router_actor router) {
  auto& st = self->state;
  auto slots = policy::slots_for(cfg.memory_mb);
  if (st.draining) {
    self->send(st.scheduler, release_atom::value, id);
    return make_error(errc::no_capacity, "host " + st.cfg.id + " is draining");
  }
  if (slots > st.free_slots) {
    self->send(st.scheduler, release_atom::value, id);
    return make_error(errc::no_capacity, "host " + st.cfg.id + " has no room for " + cfg.name);
  }
  st.free_slots -= slots;
  st.starting[id] = running{id, cfg.id(), cfg.tenant, slots, now_ms(), {}};
  publish(self);
  auto rp = self->make_response_promise<instance_actor>();
  paced(self, [=]() mutable {
    // Lazy where the FUSE view runs: only the index must be here to start.
    self->request(self->state.cfg.package_agent, std::chrono::seconds(60), prepare_atom::value,
                  cfg.package)
        .then(
            [=](std::string& code_dir) mutable {
              acquire_and_start(self, id, cfg, std::move(code_dir), router, rp, 0);
            },
            [=](caf::error& err) mutable {
              give_back(self, id, slots);
              rp.deliver(make_error(errc::sandbox_failed,
                                    "code package of " + cfg.name + ": " + error_message(err)));
            });
  });
  return rp;
}

void instance_down(host_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto it = st.instances.find(dm.source);
  if (it == st.instances.end())
    return;
  give_back(self, it->second.instance_id, it->second.slots, it->second.package);
  st.instances.erase(it);
  st.proxies.erase(dm.source);
}

/// What the host registers with: its settings, its packages and how it is now.
host_info info_of(const host_settings& cfg, int32_t free_slots, bool draining) {
  return {cfg.id,     cfg.zone,     cfg.memory_mb / policy::slot_mb,
          free_slots, cfg.cpus,     cfg.packages->list(),
          draining,   cfg.endpoint, {}};
}

/// The node (re)joined the control plane: register with its scheduler, and
/// say what runs here, so that it can be reconciled with the placements.
void join(host_ptr self, scheduler_actor scheduler, controller_actor controller) {
  auto& st = self->state;
  st.scheduler = std::move(scheduler);
  if (st.cfg.egress)
    self->send(st.cfg.egress, join_atom::value, st.scheduler, controller);
  self->send(st.cfg.package_agent, join_atom::value, std::move(controller));
  auto info = info_of(st.cfg, st.free_slots, st.draining);
  auto report = [&](const running& r, const char* state) {
    info.running.push_back(placement{r.instance_id, r.function, st.cfg.id, state, now_ms(), r.slots,
                                     st.cfg.endpoint, r.tenant});
  };
  for (const auto& [_, r] : st.instances)
    report(r, st.draining ? "draining" : "ready");
  for (const auto& [_, r] : st.starting)
    report(r, "starting");
  self->send(st.scheduler, host_up_atom::value, std::move(info), caf::actor_cast<host_actor>(self));
}

/// Every instance of the host, running (as each answers within 2 s) or
/// starting.
caf::result<std::vector<instance_status>> list_instances(host_ptr self) {
  auto& st = self->state;
  auto status_of = [&](const running& r, std::string state) {
    return instance_status{r.instance_id, r.function, st.cfg.id, std::move(state), r.started_ms, 0};
  };
  std::vector<instance_status> starting;
  for (const auto& [_, r] : st.starting)
    starting.push_back(status_of(r, "starting"));
  if (st.instances.empty())
    return starting;
  auto g = make_fan_in(self, st.instances.size(), std::move(starting));
  for (const auto& [addr, r] : st.instances) {
    auto inst = caf::actor_cast<instance_actor>(addr);
    if (!inst) {
      g->one_done();
      continue;
    }
    self->request(inst, std::chrono::seconds(2), status_atom::value)
        .then(
            [g, known = status_of(r, "")](instance_status& s) mutable {
              known.state = std::move(s.state);
              known.invocations = s.invocations;
              g->got.push_back(std::move(known));
              g->one_done();
            },
            [g](caf::error&) { g->one_done(); });
  }
  return g->rp;
}

/// Asks the instance at `addr` to finish what it holds and end.
void drain_instance(host_ptr self, const caf::actor_addr& addr) {
  if (auto inst = caf::actor_cast<instance_actor>(addr))
    self->send(inst, drain_atom::value);
}

/// The scheduler has no placement for this instance: it finishes what it
/// holds and ends (its router, if any, takes that as a normal end); one still
/// starting is drained once it runs.
void drain_orphan(host_ptr self, const std::string& instance_id) {
  if (self->state.starting.count(instance_id) > 0) {
    self->state.orphaned.insert(instance_id);
    return;
  }
  for (const auto& [addr, r] : self->state.instances)
    if (r.instance_id == instance_id) {
      net::log::warn("orphan_drained", "instance " + instance_id + " of " + r.function +
                                           " has no placement: draining it")
          .field("instance", instance_id)
          .field("function", r.function);
      return drain_instance(self, addr);
    }
}

host_impl::behavior_type host(host_ptr self, host_settings cfg, scheduler_actor scheduler,
                              controller_actor controller) {
  auto& st = self->state;
  // Only empty directories are left here by an earlier run (the mounts lived
  // in the sandboxes' own namespaces).
  std::error_code ec;
  std::filesystem::remove_all(cfg.run_dir, ec);
  std::filesystem::create_directories(cfg.run_dir);
  remove_stale_sandboxes();
  st.free_slots = cfg.memory_mb / policy::slot_mb;
  auto& reg = net::metrics::registry::node();
  reg.get_gauge("troupe_host_slots", "The host's memory in 128 MB slots", {{"kind", "total"}})
      .set(st.free_slots);
  st.slots_free =
      &reg.get_gauge("troupe_host_slots", "The host's memory in 128 MB slots", {{"kind", "free"}});
  st.instances_starting = &instances_gauge("starting");
  publish(self);
  st.launches.emplace(cfg.launch_rate, std::max(1.0, cfg.launch_burst));
  st.cfg = std::move(cfg);
  st.scheduler = std::move(scheduler);
  if (controller) // the package agent reads what this host lacks through it
    self->send(st.cfg.package_agent, join_atom::value, std::move(controller));
  for (size_t i = 0; i < std::max<size_t>(1, st.cfg.template_makers); ++i) {
    st.makers.push_back(spawn_template_maker(self->system()));
    self->link_to(st.makers.back());
  }
  // Bursts of up to one pool's minimum, e.g. when the node starts.
  st.pacer = spawn_refill_pacer(self->system(), st.cfg.pool_refill_per_s, double(st.cfg.pool_min));
  self->link_to(st.pacer);
  for (size_t i = 0; i < std::max<size_t>(1, st.cfg.claimers); ++i) {
    st.claimers.push_back(spawn_template_claimer(self->system()));
    self->link_to(st.claimers.back());
  }
  if (st.cfg.logs) {
    st.log_reader = self->system().spawn<caf::detached>(log_reader, st.cfg.logs);
    self->link_to(st.log_reader);
  }
  for (const auto& family : st.cfg.warm_runtimes)
    pool_for(self, family, policy::slot_mb);
  self->set_down_handler([=](const caf::down_msg& dm) { instance_down(self, dm); });
  // The node stops it: its instances go too (they end on their own only when
  // their router goes, which in a cluster lives on another node).
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    for (const auto& [addr, _] : self->state.instances)
      self->send_exit(addr, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [=](launch_atom, std::string id, function_config cfg, router_actor router) {
        return launch(self, std::move(id), std::move(cfg), std::move(router));
      },
      [=](drain_atom, bool on) {
        self->state.draining = on;
        if (on)
          for (const auto& [addr, _] : self->state.instances)
            drain_instance(self, addr);
      },
      [=](orphan_atom, const std::string& instance_id) { drain_orphan(self, instance_id); },
      [=](logs_atom, const std::string& function_id,
          int32_t max_bytes) -> caf::result<std::string> {
        if (!self->state.log_reader)
          return std::string{};
        return self->delegate(self->state.log_reader, logs_atom::value, function_id, max_bytes);
      },
      [=](instances_atom) { return list_instances(self); },
      [=](join_atom, scheduler_actor scheduler, controller_actor controller) {
        join(self, std::move(scheduler), std::move(controller));
      },
      [=](endpoint_atom, std::string endpoint) { self->state.cfg.endpoint = std::move(endpoint); },
      [=](token_atom) { start_paced(self); },
  };
}

} // namespace

host_node_actor spawn_host(caf::actor_system& sys, host_settings settings,
                           scheduler_actor scheduler, controller_actor controller) {
  // Registered from here, not from the host's init: spawning returns before the
  // actor first runs, and a placement must not find the scheduler without it.
  auto info = info_of(settings, settings.memory_mb / policy::slot_mb, false);
  auto hdl = caf::actor_cast<host_node_actor>(
      sys.spawn(host, std::move(settings), scheduler, std::move(controller)));
  if (scheduler)
    caf::anon_send(scheduler, host_up_atom::value, std::move(info),
                   caf::actor_cast<host_actor>(hdl));
  return hdl;
}

} // namespace troupe
