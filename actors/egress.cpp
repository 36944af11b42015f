#include "actors/egress.hpp"

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

/// The gateway's connections: touched by its actor and by io threads.
struct gateway_core {
  net::io_runtime& io;
  std::mutex mu;
  struct conn {
    caf::actor peer;
    std::shared_ptr<net::stream_pump> pump;
  };
  std::map<uint64_t, conn> conns;

  explicit gateway_core(net::io_runtime& i) : io(i) {}

  std::shared_ptr<net::stream_pump> pump_of(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.pump;
  }

  void refuse(uint64_t id, const caf::actor& peer, const std::string& why, const char* outcome) {
    {
      std::lock_guard<std::mutex> lock(mu);
      conns.erase(id);
    }
    connections(outcome).add();
    caf::anon_send(peer, gw_opened_atom::value, why);
  }

  /// Connects to the first of `addresses` the rules allow.
  void connect(const std::shared_ptr<gateway_core>& self, uint64_t id, caf::actor peer,
               std::vector<policy::egress_rule> rules, std::string tenant, std::string host,
               uint16_t port, std::vector<std::string> addresses) {
    auto literal = addresses.size() == 1 && addresses[0] == host;
    for (const auto& a : addresses) {
      if (!policy::egress_allowed(rules, {literal ? "" : host, a, port}))
        continue;
      net::stream_pump::connect(io, a, port, 5000, [=](auto pump, std::string error) {
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
        cb.on_data = [peer](std::string b) {
          caf::anon_send(peer, gw_data_atom::value, std::move(b));
        };
        cb.on_written = [peer](std::size_t n) {
          caf::anon_send(peer, gw_ack_atom::value, static_cast<uint64_t>(n));
        };
        cb.on_closed = [self, id, peer](std::string reason) {
          {
            std::lock_guard<std::mutex> lock(self->mu);
            self->conns.erase(id);
          }
          caf::anon_send(peer, gw_close_atom::value, std::move(reason));
        };
        pump->start(std::move(cb), {}, 300'000);
        connections("opened").add();
        caf::anon_send(peer, gw_opened_atom::value, std::string{});
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
};

struct gateway_state {
  std::shared_ptr<gateway_core> core;
  controller_actor controller;
  static inline const char* name = "troupe.vpc_gateway";
};

gateway_actor::behavior_type gateway(gateway_actor::stateful_pointer<gateway_state> self,
                                     net::io_runtime* io, controller_actor controller) {
  self->state.core = std::make_shared<gateway_core>(*io);
  self->state.controller = std::move(controller);
  self->attach_functor([core = self->state.core] {
    std::map<uint64_t, gateway_core::conn> conns;
    {
      std::lock_guard<std::mutex> lock(core->mu);
      conns.swap(core->conns);
    }
    for (auto& [_, c] : conns)
      if (c.pump)
        c.pump->close("the gateway stopped");
  });
  return {
      [=](gw_open_atom, uint64_t id, const std::string& tenant, const std::string& host,
          uint16_t port, caf::actor peer) {
        auto core = self->state.core;
        {
          std::lock_guard<std::mutex> lock(core->mu);
          core->conns[id] = {peer, nullptr};
        }
        if (!self->state.controller)
          return core->refuse(id, peer, "no controller to read egress rules from", "failed");
        self->request(self->state.controller, std::chrono::seconds(5), egress_atom::value, tenant)
            .then(
                [=](egress_config& cfg) {
                  std::vector<policy::egress_rule> rules;
                  for (const auto& text : cfg.rules)
                    if (auto r = policy::parse_egress_rule(text, nullptr))
                      rules.push_back(*r);
                  net::resolve(core->io, host, [=](std::vector<std::string> addrs, std::string e) {
                    if (addrs.empty())
                      return core->refuse(id, peer, e, "failed");
                    core->connect(core, id, peer, rules, tenant, host, port, std::move(addrs));
                  });
                },
                [=](caf::error& err) {
                  core->refuse(id, peer, "egress rules: " + error_message(err), "failed");
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
          if (!p)
            core->conns.erase(it);
        }
        if (p)
          p->close({}); // what is on its way out goes first
      },
  };
}

/// The host's end of one stream: carries what the gateway sends to the proxy.
class gateway_path final : public net::egress_path {
public:
  gateway_path(gateway_actor gw, uint64_t id, caf::actor bridge)
      : gw_(std::move(gw)), id_(id), bridge_(std::move(bridge)) {}
  ~gateway_path() override { close(); }
  void send(std::string bytes) override {
    caf::anon_send(gw_, gw_data_atom::value, id_, std::move(bytes));
  }
  void acknowledge(std::size_t n) override {
    caf::anon_send(gw_, gw_ack_atom::value, id_, static_cast<uint64_t>(n));
  }
  void close() override {
    std::call_once(closed_, [&] {
      caf::anon_send(gw_, gw_close_atom::value, id_);
      caf::anon_send_exit(bridge_, caf::exit_reason::user_shutdown);
    });
  }

private:
  gateway_actor gw_;
  uint64_t id_;
  caf::actor bridge_;
  std::once_flag closed_;
};

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, net::io_runtime& io,
                            controller_actor controller) {
  return sys.spawn(gateway, &io, std::move(controller));
}

net::egress_opener gateway_opener(caf::actor_system& sys, gateway_actor gw, std::string tenant) {
  return [&sys, gw, tenant](const std::string& host, uint16_t port,
                            net::egress_path::events ev) -> std::unique_ptr<net::egress_path> {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    auto id = rng();
    auto bridge = sys.spawn([ev, gw](caf::event_based_actor* self) -> caf::behavior {
      self->monitor(gw);
      self->set_down_handler([=](caf::down_msg&) {
        ev.closed("the gateway is gone");
        self->quit();
      });
      return {
          [=](gw_opened_atom, const std::string& error) {
            ev.opened(error);
            if (!error.empty())
              self->quit();
          },
          [=](gw_data_atom, std::string& bytes) { ev.data(std::move(bytes)); },
          [=](gw_ack_atom, uint64_t n) { ev.acked(static_cast<std::size_t>(n)); },
          [=](gw_close_atom, const std::string& reason) {
            ev.closed(reason);
            self->quit();
          },
      };
    });
    caf::anon_send(gw, gw_open_atom::value, id, tenant, host, port, bridge);
    return std::make_unique<gateway_path>(gw, id, bridge);
  };
}

} // namespace troupe
