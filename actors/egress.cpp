#include "actors/egress.hpp"

#include "actors/clock.hpp"
#include "actors/policy/breaker.hpp"
#include "actors/policy/egress.hpp"
#include "actors/protocol/errc.hpp"
#include "net/io_runtime.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>

namespace troupe {

namespace {

net::metrics::counter& connections(const char* outcome) {
  return net::metrics::registry::node().get_counter(
      "troupe_egress_connections_total",
      "Outbound connections of instances through this node's gateway, by outcome",
      {{"outcome", outcome}});
}

net::metrics::gauge& open_connections() {
  return net::metrics::registry::node().get_gauge(
      "troupe_egress_open_connections", "Outbound connections open through this node's gateway");
}

net::metrics::counter& failovers() {
  return net::metrics::registry::node().get_counter(
      "troupe_egress_failovers_total",
      "Connections of this host's instances moved to another gateway before they opened");
}

/// The gateway's connections: touched by its actor and by io threads.
struct gateway_core {
  net::io_runtime& io;
  gateway_settings cfg;
  std::mutex mu;
  struct conn {
    caf::actor peer;
    std::string tenant;
    std::shared_ptr<net::stream_pump> pump;
  };
  std::map<uint64_t, conn> conns;
  std::map<std::string, int32_t> per_tenant; ///< open (or opening) connections

  gateway_core(net::io_runtime& i, gateway_settings s) : io(i), cfg(std::move(s)) {}

  /// Takes a slot of `tenant`'s; false when it has its most here.
  bool add(uint64_t id, const caf::actor& peer, const std::string& tenant) {
    std::lock_guard<std::mutex> lock(mu);
    auto& n = per_tenant[tenant];
    if (n >= cfg.tenant_connections)
      return false;
    ++n;
    conns[id] = {peer, tenant, nullptr};
    open_connections().add(1);
    return true;
  }

  /// Forgets a connection (under `mu`); its pump, if it had one.
  std::shared_ptr<net::stream_pump> remove_locked(std::map<uint64_t, conn>::iterator it) {
    auto pump = std::move(it->second.pump);
    if (--per_tenant[it->second.tenant] <= 0)
      per_tenant.erase(it->second.tenant);
    conns.erase(it);
    open_connections().add(-1);
    return pump;
  }

  void remove(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = conns.find(id); it != conns.end())
      remove_locked(it);
  }

  std::shared_ptr<net::stream_pump> pump_of(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.pump;
  }

  void refuse(uint64_t id, const caf::actor& peer, const std::string& why, const char* outcome) {
    remove(id);
    connections(outcome).add();
    caf::anon_send(peer, gw_opened_atom::value, id, why);
  }

  /// Connects to the first of `addresses` the rules allow.
  void connect(const std::shared_ptr<gateway_core>& self, uint64_t id, caf::actor peer,
               const std::vector<policy::egress_rule>& rules, const std::string& tenant,
               const std::string& host, uint16_t port, const std::vector<std::string>& addresses) {
    auto literal = addresses.size() == 1 && addresses[0] == host;
    for (const auto& a : addresses) {
      if (!policy::egress_allowed(rules, {literal ? "" : host, a, port}))
        continue;
      net::stream_pump::connect(
          io, a, port, cfg.connect_timeout_ms, [=](auto pump, std::string error) {
            if (!pump)
              return self->refuse(id, peer, "connect to " + a + ": " + error, "failed");
            {
              std::lock_guard<std::mutex> lock(self->mu);
              auto it = self->conns.find(id);
              if (it == self->conns.end()) // the peer gave up meanwhile
                return pump->close("closed by the instance");
              it->second.pump = pump;
            }
            net::stream_pump::callbacks cb;
            cb.on_data = [peer, id](std::string b) {
              caf::anon_send(peer, gw_data_atom::value, id, std::move(b));
            };
            cb.on_written = [peer, id](std::size_t n) {
              caf::anon_send(peer, gw_ack_atom::value, id, static_cast<uint64_t>(n));
            };
            cb.on_closed = [self, id, peer](std::string reason) {
              self->remove(id);
              caf::anon_send(peer, gw_close_atom::value, id, std::move(reason));
            };
            pump->start(std::move(cb), {}, cfg.idle_ms);
            connections("opened").add();
            caf::anon_send(peer, gw_opened_atom::value, id, std::string{});
          });
      return;
    }
    net::log::info("egress_refused", "egress of tenant " + tenant + " to " + host + ":" +
                                         std::to_string(port) + " refused by its rules")
        .field("tenant", tenant)
        .field("host", host)
        .field("port", static_cast<int64_t>(port));
    refuse(id, peer,
           "refused: no egress rule of tenant " + tenant + " allows " + host + ":" +
               std::to_string(port),
           "refused");
  }

  /// Closes every connection of `peer` (gone with its host's node).
  void drop_peer(const caf::actor_addr& peer) {
    std::vector<std::shared_ptr<net::stream_pump>> pumps;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = conns.begin(); it != conns.end();) {
        auto next = std::next(it);
        if (it->second.peer.address() == peer)
          if (auto p = remove_locked(it))
            pumps.push_back(std::move(p));
        it = next;
      }
    }
    for (auto& p : pumps)
      p->close("the instance's host is gone");
  }
};

/// A tenant's rules, parsed once and shared by its connections.
using tenant_rules = std::shared_ptr<const std::vector<policy::egress_rule>>;

tenant_rules parse_rules(const std::vector<std::string>& texts) {
  auto rules = std::make_shared<std::vector<policy::egress_rule>>();
  for (const auto& text : texts)
    if (auto r = policy::parse_egress_rule(text, nullptr))
      rules->push_back(*r);
  return rules;
}

std::map<std::string, tenant_rules> rules_by_tenant(const std::vector<egress_config>& all) {
  std::map<std::string, tenant_rules> out;
  for (const auto& cfg : all)
    out[cfg.tenant] = parse_rules(cfg.rules);
  return out;
}

struct gateway_state {
  std::shared_ptr<gateway_core> core;
  std::string endpoint;
  controller_actor controller;
  scheduler_actor scheduler;
  bool registered = false;                   ///< has read every tenant's rules once
  std::map<std::string, tenant_rules> rules; ///< by tenant (none: no rules)
  static inline const char* name = "troupe.vpc_gateway";
};

using gateway_ptr = gateway_actor::stateful_pointer<gateway_state>;

void register_gateway(gateway_ptr self) {
  auto& st = self->state;
  auto controller = st.controller;
  self->request(controller, std::chrono::seconds(5), gateway_up_atom::value,
                gateway_entry{st.core->cfg.id, st.endpoint, caf::actor_cast<caf::actor>(self)})
      .then(
          [=](std::vector<egress_config>& all) {
            self->state.rules = rules_by_tenant(all);
            self->state.registered = true;
          },
          [=](caf::error& err) {
            net::log::warn("gateway_register_failed",
                           "gateway " + self->state.core->cfg.id +
                               " cannot register with the controller: " + error_message(err) +
                               "; trying again in 1 s");
            if (self->state.controller == controller)
              self->delayed_send(self, std::chrono::seconds(1), join_atom::value,
                                 self->state.scheduler, controller);
          });
}

gateway_actor::behavior_type gateway(gateway_ptr self, net::io_runtime* io, gateway_settings cfg) {
  self->state.core = std::make_shared<gateway_core>(*io, std::move(cfg));
  self->attach_functor([core = self->state.core] {
    std::map<uint64_t, gateway_core::conn> conns;
    {
      std::lock_guard<std::mutex> lock(core->mu);
      conns.swap(core->conns);
      core->per_tenant.clear();
    }
    open_connections().add(-double(conns.size()));
    for (auto& [_, c] : conns)
      if (c.pump)
        c.pump->close("the gateway stopped");
  });
  self->set_down_handler([=](caf::down_msg& down) { self->state.core->drop_peer(down.source); });
  self->delayed_send(self, std::chrono::seconds(10), gw_refresh_atom::value);
  return {
      [=](gw_open_atom, uint64_t id, const std::string& tenant, const std::string& host,
          uint16_t port, caf::actor peer) {
        auto& st = self->state;
        auto core = st.core;
        if (!st.registered) {
          connections("failed").add();
          caf::anon_send(peer, gw_opened_atom::value, id,
                         "unavailable: gateway " + core->cfg.id +
                             " has not read the egress rules yet");
          return;
        }
        if (!core->add(id, peer, tenant)) {
          connections("limited").add();
          caf::anon_send(peer, gw_opened_atom::value, id,
                         "limit: tenant " + tenant + " has " +
                             std::to_string(core->cfg.tenant_connections) +
                             " connections open through gateway " + core->cfg.id +
                             " (gateway.tenant-connections)");
          return;
        }
        self->monitor(peer);
        auto it = st.rules.find(tenant);
        static const tenant_rules no_rules = parse_rules({});
        auto rules = it == st.rules.end() ? no_rules : it->second;
        net::resolve(core->io, host, [=](std::vector<std::string> addrs, std::string e) {
          if (addrs.empty())
            return core->refuse(id, peer, e, "failed");
          core->connect(core, id, peer, *rules, tenant, host, port, addrs);
        });
      },
      [=](gw_data_atom, uint64_t id, std::string& bytes) {
        if (auto p = self->state.core->pump_of(id))
          p->write(std::move(bytes));
      },
      [=](gw_ack_atom, uint64_t id, uint64_t n) {
        if (auto p = self->state.core->pump_of(id))
          p->acknowledge(static_cast<std::size_t>(n));
      },
      [=](gw_close_atom, uint64_t id) {
        auto core = self->state.core;
        std::shared_ptr<net::stream_pump> p;
        {
          std::lock_guard<std::mutex> lock(core->mu);
          auto it = core->conns.find(id);
          if (it == core->conns.end())
            return;
          p = it->second.pump;
          if (!p) // still connecting: the connect's answer finds it gone
            core->remove_locked(it);
        }
        if (p)
          p->close({}); // what is on its way out goes first
      },
      [=](egress_atom, const egress_config& cfg) {
        self->state.rules[cfg.tenant] = parse_rules(cfg.rules);
        return true;
      },
      [=](join_atom, scheduler_actor scheduler, controller_actor controller) {
        self->state.scheduler = std::move(scheduler);
        self->state.controller = std::move(controller);
        register_gateway(self);
      },
      [=](endpoint_atom, std::string& endpoint) { self->state.endpoint = std::move(endpoint); },
      [=](gw_refresh_atom) {
        self->delayed_send(self, std::chrono::seconds(10), gw_refresh_atom::value);
        if (!self->state.registered)
          return;
        self->request(self->state.controller, std::chrono::seconds(5), egress_atom::value)
            .then(
                [=](std::vector<egress_config>& all) { self->state.rules = rules_by_tenant(all); },
                [](caf::error&) {}); // unreachable: the rules it has stay
      },
  };
}

// -- the host's side ---------------------------------------------------------

struct balancer_state {
  struct slot {
    gateway_entry entry;
    policy::breaker breaker;
    int32_t active = 0; ///< this host's connections through it
  };
  std::map<std::string, slot> gateways; ///< by name
  controller_actor controller;
  peer_connector_actor connector;
  bool polling = false;
  bool poll_again = false; ///< asked for while a poll was on its way
  uint64_t polls_sent = 0;
  uint64_t turn = 0;
  /// Picks that found no gateway: they wait for a list read after they came.
  struct waiter {
    caf::typed_response_promise<caf::actor, std::string> rp;
    std::vector<std::string> tried;
    uint64_t poll = 0; ///< the first poll whose answer serves it
  };
  std::vector<waiter> waiting;
  static inline const char* name = "troupe.egress_balancer";
};

using balancer_ptr = egress_balancer_actor::stateful_pointer<balancer_state>;

policy::breaker_settings gateway_breaker() {
  policy::breaker_settings s;
  s.consecutive_failures = 3;
  s.cool_down_ms = 1000;
  return s;
}

/// The gateway a new connection should use, leaving out `tried` (its count
/// taken); nullptr if none may take it.
balancer_state::slot* choose(balancer_ptr self, const std::vector<std::string>& tried) {
  auto& st = self->state;
  std::vector<balancer_state::slot*> candidates;
  for (auto& [id, s] : st.gateways)
    if (std::find(tried.begin(), tried.end(), id) == tried.end())
      candidates.push_back(&s);
  // Fewest connections first; among equals, a different one each time.
  if (!candidates.empty())
    std::rotate(candidates.begin(), candidates.begin() + st.turn++ % candidates.size(),
                candidates.end());
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](auto* a, auto* b) { return a->active < b->active; });
  auto now = steady_ms();
  for (auto* s : candidates)
    if (s->breaker.admit(now) != policy::admission::rejected) {
      ++s->active;
      return s;
    }
  return nullptr;
}

caf::error none_left(balancer_ptr self) {
  auto n = self->state.gateways.size();
  return make_error(errc::no_capacity,
                    n == 0 ? std::string{"no gateway is registered with the controller"}
                           : "every gateway (" + std::to_string(n) + ") was tried or is failing");
}

void poll(balancer_ptr self);

/// Answers the waiting picks that poll `done` (or, with `failed`, every
/// one) serves, and polls again for the others.
void serve_waiting(balancer_ptr self, uint64_t done, bool failed) {
  auto& st = self->state;
  st.polling = false;
  std::vector<balancer_state::waiter> later;
  for (auto& w : st.waiting) {
    if (w.poll > done && !failed) {
      later.push_back(std::move(w));
      continue;
    }
    if (auto* s = choose(self, w.tried))
      w.rp.deliver(s->entry.gateway, s->entry.id);
    else
      w.rp.deliver(none_left(self));
  }
  st.waiting = std::move(later);
  if (!st.waiting.empty() || st.poll_again) {
    st.poll_again = false;
    poll(self);
  }
}

void poll(balancer_ptr self) {
  auto& st = self->state;
  if (!st.controller)
    return;
  if (st.polling) {
    st.poll_again = true;
    return;
  }
  st.polling = true;
  auto gen = ++st.polls_sent;
  self->request(st.controller, std::chrono::seconds(2), gateways_atom::value)
      .then(
          [=](std::vector<gateway_entry>& list) {
            auto& st = self->state;
            std::map<std::string, balancer_state::slot> next;
            for (auto& e : list) {
              if (!e.gateway)
                continue;
              auto it = st.gateways.find(e.id);
              if (it != st.gateways.end() && it->second.entry.gateway == e.gateway) {
                next.emplace(e.id, std::move(it->second));
                continue;
              }
              self->monitor(e.gateway);
              if (st.connector && !e.endpoint.empty() && e.gateway.node() != self->node())
                self->request(st.connector, std::chrono::seconds(6), connect_to_atom::value,
                              e.endpoint)
                    .then([](bool) {}, [](caf::error&) {});
              auto id = e.id;
              next.emplace(
                  id, balancer_state::slot{std::move(e), policy::breaker{gateway_breaker()}, 0});
            }
            st.gateways = std::move(next);
            serve_waiting(self, gen, false);
          },
          [=](caf::error&) { serve_waiting(self, gen, true); });
}

egress_balancer_actor::behavior_type balancer(balancer_ptr self, controller_actor controller,
                                              peer_connector_actor connector) {
  self->state.controller = std::move(controller);
  self->state.connector = std::move(connector);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& gws = self->state.gateways;
    for (auto it = gws.begin(); it != gws.end(); ++it)
      if (it->second.entry.gateway.address() == down.source) {
        gws.erase(it);
        return;
      }
  });
  poll(self);
  self->delayed_send(self, std::chrono::seconds(1), gateways_atom::value);
  return {
      [=](gw_pick_atom, std::vector<std::string>& tried) -> caf::result<caf::actor, std::string> {
        auto& st = self->state;
        if (auto* s = choose(self, tried))
          return {s->entry.gateway, s->entry.id};
        if (!st.controller)
          return none_left(self);
        // None it knows will do (it has just started, or its gateways just
        // failed): it waits for a list read after it came, which may name more.
        auto rp = self->make_response_promise<caf::actor, std::string>();
        st.waiting.push_back({rp, std::move(tried), st.polls_sent + 1});
        poll(self);
        return rp;
      },
      [=](outcome_atom, const std::string& id, int32_t outcome) {
        auto it = self->state.gateways.find(id);
        if (it == self->state.gateways.end())
          return;
        auto& b = it->second.breaker;
        if (outcome == 0)
          b.on_success(steady_ms());
        else if (outcome == 1)
          b.on_failure(steady_ms());
        else
          b.on_cancelled();
      },
      [=](gw_close_atom, const std::string& id) {
        if (auto it = self->state.gateways.find(id); it != self->state.gateways.end())
          it->second.active = std::max(0, it->second.active - 1);
      },
      [=](join_atom, const scheduler_actor&, controller_actor controller) {
        self->state.controller = std::move(controller);
        poll(self);
      },
      [=](gateways_atom) {
        poll(self);
        self->delayed_send(self, std::chrono::seconds(1), gateways_atom::value);
      },
  };
}

/// Where an open connection's bytes go: set once, before the proxy is told
/// it is open (and so before its first send).
struct route {
  std::mutex mu;
  caf::actor gateway;
  uint64_t id = 0;
};

/// The host's end of one stream: the proxy's bytes go straight to the
/// gateway; the gateway's come back through the bridge actor.
class gateway_path final : public net::egress_path {
public:
  gateway_path(std::shared_ptr<route> r, caf::actor bridge)
      : route_(std::move(r)), bridge_(std::move(bridge)) {}
  ~gateway_path() override { close(); }
  void send(std::string bytes) override {
    std::lock_guard<std::mutex> lock(route_->mu);
    caf::anon_send(route_->gateway, gw_data_atom::value, route_->id, std::move(bytes));
  }
  void acknowledge(std::size_t n) override {
    std::lock_guard<std::mutex> lock(route_->mu);
    caf::anon_send(route_->gateway, gw_ack_atom::value, route_->id, static_cast<uint64_t>(n));
  }
  void close() override {
    std::call_once(closed_, [&] {
      {
        std::lock_guard<std::mutex> lock(route_->mu);
        if (route_->gateway) // after the bytes sent before it
          caf::anon_send(route_->gateway, gw_close_atom::value, route_->id);
      }
      caf::anon_send_exit(bridge_, caf::exit_reason::user_shutdown);
    });
  }

private:
  std::shared_ptr<route> route_;
  caf::actor bridge_;
  std::once_flag closed_;
};

/// One connection's attempts, gateway after gateway, until one opens it.
/// Shared by the bridge's handlers and its exit functor (which runs after
/// a stateful actor's state is gone).
struct bridge_state {
  std::vector<std::string> tried;
  std::string gateway_id; ///< of the current attempt ("": none)
  caf::actor gateway;
  uint64_t id = 0; ///< the current attempt's connection id
  bool opened = false;
  std::string last_error;

  /// The current attempt ends: the balancer hears how it went (outcome
  /// 0, 1, 2; -1: no outcome) and gets its slot back; a gateway still
  /// opening it is told to stop.
  void end_attempt(const egress_balancer_actor& balancer, int32_t outcome) {
    if (gateway_id.empty())
      return;
    if (outcome >= 0)
      caf::anon_send(balancer, outcome_atom::value, gateway_id, outcome);
    caf::anon_send(balancer, gw_close_atom::value, gateway_id);
    if (!opened)
      caf::anon_send(gateway, gw_close_atom::value, id);
    gateway_id.clear();
    gateway = nullptr;
  }
};

uint64_t connection_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, net::io_runtime& io,
                            gateway_settings settings) {
  for (const char* outcome : {"opened", "refused", "limited", "failed"})
    connections(outcome); // every series from the start, at 0
  open_connections();
  return sys.spawn(gateway, &io, std::move(settings));
}

egress_balancer_actor spawn_egress_balancer(caf::actor_system& sys, controller_actor controller,
                                            peer_connector_actor connector) {
  failovers();
  return sys.spawn(balancer, std::move(controller), std::move(connector));
}

net::egress_opener gateway_opener(caf::actor_system& sys, egress_balancer_actor balancer,
                                  std::string tenant, int open_timeout_ms) {
  return [&sys, balancer, tenant,
          open_timeout_ms](const std::string& host, uint16_t port,
                           net::egress_path::events ev) -> std::unique_ptr<net::egress_path> {
    auto r = std::make_shared<route>();
    auto bridge = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
      auto st = std::make_shared<bridge_state>();
      auto give_up = [=](const std::string& why) {
        ev.opened(why);
        self->quit();
      };
      auto attempt = [=]() {
        self->request(balancer, std::chrono::seconds(5), gw_pick_atom::value, st->tried)
            .then(
                [=](caf::actor& gw, std::string& gid) {
                  if (!st->tried.empty())
                    failovers().add();
                  st->tried.push_back(gid);
                  st->gateway_id = std::move(gid);
                  st->gateway = gw;
                  st->id = connection_id();
                  self->monitor(gw);
                  self->send(gw, gw_open_atom::value, st->id, tenant, host, port,
                             caf::actor_cast<caf::actor>(self));
                  self->delayed_send(self, std::chrono::milliseconds(open_timeout_ms),
                                     gw_timeout_atom::value, st->id);
                },
                [=](caf::error& err) {
                  give_up(st->last_error.empty() ? "unavailable: " + error_message(err)
                                                 : st->last_error);
                });
      };
      // Before the connection opens, a failed gateway is left for the next.
      auto next = [=](int32_t outcome, std::string why) {
        net::log::warn("egress_failover", "a connection to " + host + ":" + std::to_string(port) +
                                              " leaves gateway " + st->gateway_id + ": " + why)
            .field("gateway", st->gateway_id)
            .field("tenant", tenant);
        self->demonitor(st->gateway);
        st->end_attempt(balancer, outcome);
        st->last_error = std::move(why);
        attempt();
      };
      self->attach_functor([=] { st->end_attempt(balancer, -1); });
      self->set_down_handler([=](caf::down_msg& down) {
        if (!st->gateway || down.source != st->gateway.address())
          return;
        if (!st->opened)
          return next(1, "unavailable: gateway " + st->gateway_id + " is gone");
        // Open: only this gateway's connections break.
        ev.closed("the gateway " + st->gateway_id + " is gone");
        st->end_attempt(balancer, 1);
        self->quit();
      });
      attempt();
      return {
          [=](gw_opened_atom, uint64_t id, std::string& error) {
            if (id != st->id || st->opened || st->gateway_id.empty())
              return;
            if (error.empty()) {
              {
                std::lock_guard<std::mutex> lock(r->mu);
                r->gateway = st->gateway;
                r->id = st->id;
              }
              st->opened = true;
              caf::anon_send(balancer, outcome_atom::value, st->gateway_id, int32_t{0});
              ev.opened({});
              return;
            }
            if (error.compare(0, 12, "unavailable:") == 0)
              return next(1, std::move(error));
            if (error.compare(0, 6, "limit:") == 0)
              return next(2, std::move(error));
            // Refused by the rules, or the destination failed: the gateway
            // did its work, and another would answer the same.
            st->opened = true; // nothing left for the gateway to stop
            st->end_attempt(balancer, 0);
            give_up(error);
          },
          [=](gw_timeout_atom, uint64_t id) {
            if (id == st->id && !st->opened && !st->gateway_id.empty())
              next(1, "unavailable: gateway " + st->gateway_id + " did not answer within " +
                          std::to_string(open_timeout_ms) + " ms");
          },
          [=](gw_data_atom, uint64_t id, std::string& bytes) {
            if (id == st->id)
              ev.data(std::move(bytes));
          },
          [=](gw_ack_atom, uint64_t id, uint64_t n) {
            if (id == st->id)
              ev.acked(static_cast<std::size_t>(n));
          },
          [=](gw_close_atom, uint64_t id, std::string& reason) {
            if (id != st->id)
              return;
            ev.closed(reason);
            self->quit();
          },
      };
    });
    return std::make_unique<gateway_path>(std::move(r), std::move(bridge));
  };
}

} // namespace troupe
