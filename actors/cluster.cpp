#include "actors/cluster.hpp"

#include "actors/node_config.hpp"
#include "net/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

namespace troupe {

namespace {

/// The middleman that connects this node to others: caf_openssl's, or plain BASP's.
caf::io::middleman_actor middleman_for(caf::actor_system& sys, bool tls) {
  return tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

/// The joiners the door monitors: the name each joined with.
struct door_state {
  std::map<caf::actor_addr, std::string> joined;
  static inline const char* name = "troupe.door";
};

cluster_actor::behavior_type door(cluster_actor::stateful_pointer<door_state> self,
                                  controller_actor controller, scheduler_actor scheduler) {
  // A joiner goes with its node (or its connection): the controller lists it as down.
  self->set_down_handler([=](const caf::down_msg& down) {
    auto it = self->state.joined.find(down.source);
    if (it == self->state.joined.end())
      return;
    self->send(controller, node_atom::value, it->second, false);
    self->state.joined.erase(it);
  });
  return {
      [=](join_atom, const std::string& node) -> caf::result<controller_actor, scheduler_actor> {
        net::log::info("node_joined", "node " + node + " joined the cluster").field("node", node);
        auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (who && self->state.joined.count(who) == 0) {
          self->monitor(who);
          self->state.joined[who] = node;
        }
        self->send(controller, node_atom::value, node, true);
        return {controller, scheduler};
      },
  };
}

/// The joiner takes `join` from itself: time to (re)connect.
using joiner_actor = caf::typed_actor<caf::reacts_to<join_atom>>;

struct joiner_state {
  join_settings cfg;
  std::vector<caf::actor> members;
  cluster_actor door;
  std::chrono::milliseconds backoff{100};
  int failures = 0;
  static inline const char* name = "troupe.joiner";
};

using joiner_ptr = joiner_actor::stateful_pointer<joiner_state>;

constexpr std::chrono::milliseconds max_backoff{2000};

/// Tries again after the current backoff, which then doubles (capped).
void retry_later(joiner_ptr self, const std::string& why) {
  auto& st = self->state;
  // The first failure and then every 8th: a controller that stays away must
  // not flood the log.
  if (st.failures++ % 8 == 0)
    net::log::warn("join_failed", "cannot join the cluster at " + st.cfg.host + ":" +
                                      std::to_string(st.cfg.port) + ": " + why + " (retrying)")
        .field("failures", st.failures);
  self->delayed_send(self, st.backoff, join_atom::value);
  st.backoff = std::min(st.backoff * 2, max_backoff);
}

void ask_door(joiner_ptr self, cluster_actor door) {
  self->request(door, std::chrono::seconds(5), join_atom::value, self->state.cfg.node)
      .then(
          [=](controller_actor& controller, scheduler_actor& scheduler) {
            auto& st = self->state;
            net::log::info("joined", "joined the cluster at " + st.cfg.host + ":" +
                                         std::to_string(st.cfg.port));
            st.door = door;
            st.backoff = std::chrono::milliseconds{100};
            st.failures = 0;
            self->monitor(door);
            for (const auto& m : st.members)
              caf::anon_send(m, join_atom::value, scheduler, controller);
          },
          [=](caf::error& err) { retry_later(self, self->system().render(err)); });
}

void connect(joiner_ptr self) {
  auto& st = self->state;
  self->request(middleman_for(self->system(), st.cfg.tls), std::chrono::seconds(5),
                caf::connect_atom::value, st.cfg.host, st.cfg.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr)
              return retry_later(self, "nothing is published there");
            ask_door(self, caf::actor_cast<cluster_actor>(std::move(ptr)));
          },
          [=](caf::error& err) { retry_later(self, self->system().render(err)); });
}

joiner_actor::behavior_type joiner(joiner_ptr self, join_settings cfg,
                                   std::vector<caf::actor> members) {
  self->state.cfg = std::move(cfg);
  self->state.members = std::move(members);
  self->set_down_handler([=](const caf::down_msg& dm) {
    if (dm.source != self->state.door.address())
      return;
    net::log::warn("controller_lost", "lost the controller node (" +
                                          self->system().render(dm.reason) + "); joining again");
    self->state.door = nullptr;
    // The middleman drops its cached handle only once it sees the same down
    // message: connecting at once could hand back the dead one
    // (shared/CAF-0.17.md, Reconnection).
    self->delayed_send(self, self->state.backoff, join_atom::value);
  });
  self->send(self, join_atom::value);
  return {
      [=](join_atom) {
        if (!self->state.door)
          connect(self);
      },
  };
}

struct connection {
  bool up = false;
  caf::actor_addr peer; ///< what the host published there, monitored
  std::vector<caf::typed_response_promise<bool>> waiting;
};

struct connector_state {
  bool tls = true;
  std::map<std::string, connection> by_endpoint;
  static inline const char* name = "troupe.peer_connector";
};

using connector_ptr = peer_connector_actor::stateful_pointer<connector_state>;

/// Answers everyone waiting on `endpoint`; forgets it unless it is up.
void settle(connector_ptr self, const std::string& endpoint, bool up) {
  auto it = self->state.by_endpoint.find(endpoint);
  if (it == self->state.by_endpoint.end())
    return;
  auto waiting = std::move(it->second.waiting);
  it->second.waiting.clear();
  if (!up)
    self->state.by_endpoint.erase(it);
  for (auto& rp : waiting)
    rp.deliver(up);
}

/// A TLS handshake that spans a heartbeat tick fails with `connection_timeout`
/// however healthy the peer (shared/CAF-0.17.md, Heartbeats): worth another try.
constexpr int connect_attempts = 3;

void dial(connector_ptr self, const std::string& endpoint, const std::string& host, uint16_t port,
          int attempt) {
  self->request(middleman_for(self->system(), self->state.tls), std::chrono::seconds(5),
                caf::connect_atom::value, host, port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto it = self->state.by_endpoint.find(endpoint);
            if (!ptr || it == self->state.by_endpoint.end())
              return settle(self, endpoint, false);
            it->second.up = true;
            it->second.peer = ptr->address();
            self->monitor(ptr);
            settle(self, endpoint, true);
          },
          [=](caf::error& err) {
            if (err == caf::sec::connection_timeout && attempt < connect_attempts)
              return dial(self, endpoint, host, port, attempt + 1);
            net::log::warn("no_direct_connection", "no direct connection to host " + endpoint +
                                                       ": " + self->system().render(err))
                .field("endpoint", endpoint);
            settle(self, endpoint, false);
          });
}

caf::result<bool> connect_to(connector_ptr self, const std::string& endpoint) {
  auto& c = self->state.by_endpoint[endpoint];
  if (c.up)
    return true;
  auto rp = self->make_response_promise<bool>();
  c.waiting.push_back(rp);
  if (c.waiting.size() > 1)
    return rp; // on its way
  std::string host, error;
  uint16_t port = 0;
  if (!parse_endpoint(endpoint, host, port, error) || port == 0)
    settle(self, endpoint, false);
  else
    dial(self, endpoint, host, port, 1);
  return rp;
}

peer_connector_actor::behavior_type peer_connector(connector_ptr self, bool tls) {
  self->state.tls = tls;
  // The host went (or its connection did): connect afresh next time.
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& all = self->state.by_endpoint;
    for (auto it = all.begin(); it != all.end(); ++it)
      if (it->second.up && it->second.peer == dm.source) {
        all.erase(it);
        return;
      }
  });
  return {
      [=](connect_to_atom, const std::string& endpoint) { return connect_to(self, endpoint); },
  };
}

} // namespace

peer_connector_actor spawn_peer_connector(caf::actor_system& sys, bool tls) {
  return sys.spawn(peer_connector, tls);
}

cluster_actor spawn_cluster_door(caf::actor_system& sys, controller_actor controller,
                                 scheduler_actor scheduler) {
  return sys.spawn(door, std::move(controller), std::move(scheduler));
}

caf::actor spawn_joiner(caf::actor_system& sys, join_settings settings,
                        std::vector<caf::actor> members) {
  return caf::actor_cast<caf::actor>(sys.spawn(joiner, std::move(settings), std::move(members)));
}

} // namespace troupe
