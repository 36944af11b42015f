#include "actors/cluster.hpp"

#include "actors/protocol/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>

namespace troupe {

namespace {

cluster_actor::behavior_type door(controller_actor controller, scheduler_actor scheduler) {
  return {
      [=](join_atom, const std::string& node) -> caf::result<controller_actor, scheduler_actor> {
        std::cerr << "troupe-node: node " << node << " joined the cluster\n";
        return {controller, scheduler};
      },
  };
}

/// The joiner takes `join` from itself: time to (re)connect.
using joiner_actor = caf::typed_actor<caf::reacts_to<join_atom>>;

struct joiner_state {
  join_settings cfg;
  host_node_actor host;
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
    std::cerr << "troupe-node: cannot join the cluster at " << st.cfg.host << ":" << st.cfg.port
              << ": " << why << " (retrying)\n";
  self->delayed_send(self, st.backoff, join_atom::value);
  st.backoff = std::min(st.backoff * 2, max_backoff);
}

void ask_door(joiner_ptr self, cluster_actor door) {
  self->request(door, std::chrono::seconds(5), join_atom::value, self->state.cfg.node)
      .then(
          [=](controller_actor& controller, scheduler_actor& scheduler) {
            auto& st = self->state;
            std::cerr << "troupe-node: joined the cluster at " << st.cfg.host << ":" << st.cfg.port
                      << "\n";
            st.door = door;
            st.backoff = std::chrono::milliseconds{100};
            st.failures = 0;
            self->monitor(door);
            self->send(st.host, join_atom::value, std::move(scheduler), std::move(controller));
          },
          [=](caf::error& err) { retry_later(self, self->system().render(err)); });
}

void connect(joiner_ptr self) {
  auto& st = self->state;
  auto& sys = self->system();
  auto mm = st.cfg.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  self->request(mm, std::chrono::seconds(5), caf::connect_atom::value, st.cfg.host, st.cfg.port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr)
              return retry_later(self, "nothing is published there");
            ask_door(self, caf::actor_cast<cluster_actor>(std::move(ptr)));
          },
          [=](caf::error& err) { retry_later(self, self->system().render(err)); });
}

joiner_actor::behavior_type joiner(joiner_ptr self, join_settings cfg, host_node_actor host) {
  self->state.cfg = std::move(cfg);
  self->state.host = std::move(host);
  self->set_down_handler([=](const caf::down_msg& dm) {
    if (dm.source != self->state.door.address())
      return;
    std::cerr << "troupe-node: lost the controller node (" << self->system().render(dm.reason)
              << "); joining again\n";
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

} // namespace

cluster_actor spawn_cluster_door(caf::actor_system& sys, controller_actor controller,
                                 scheduler_actor scheduler) {
  return sys.spawn(door, std::move(controller), std::move(scheduler));
}

caf::actor spawn_joiner(caf::actor_system& sys, join_settings settings, host_node_actor host) {
  return caf::actor_cast<caf::actor>(sys.spawn(joiner, std::move(settings), std::move(host)));
}

} // namespace troupe
