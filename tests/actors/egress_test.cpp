// The host's side of outbound connections against real gateways, a real
// controller and a real destination socket, in one actor system: a gateway
// that is alive but never answers is left for the next once the open
// timeout passes.
#include "actors/controller.hpp"
#include "actors/egress.hpp"
#include "actors/node_config.hpp"
#include "net/io_runtime.hpp"
#include "storage/kv_store.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono;

namespace {

namespace fs = std::filesystem;

/// A path's events, as futures: what `opened` said.
struct opening {
  std::shared_ptr<std::promise<std::string>> said = std::make_shared<std::promise<std::string>>();
  net::egress_path::events events() const {
    net::egress_path::events ev;
    auto p = said;
    auto once = std::make_shared<std::once_flag>();
    ev.opened = [p, once](std::string error) {
      std::call_once(*once, [&] { p->set_value(std::move(error)); });
    };
    ev.data = [](std::string) {};
    ev.acked = [](std::size_t) {};
    ev.closed = [](std::string) {};
    return ev;
  }
};

class EgressFailover : public ::testing::Test {
protected:
  fs::path root = fs::temp_directory_path() / ("troupe-egress-" + std::to_string(getpid()));
  node_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<storage::kv_store> kv;
  std::unique_ptr<storage::package_store> packages;
  std::unique_ptr<net::io_runtime> io;
  controller_actor ctl;
  int listen_fd = -1;
  uint16_t port = 0;
  std::atomic<int> stuck_opens{0};

  void SetUp() override {
    fs::remove_all(root);
    fs::create_directories(root);
    sys = std::make_unique<caf::actor_system>(cfg);
    std::string error;
    kv = storage::open_rocksdb_store((root / "db").string(), error);
    ASSERT_TRUE(kv) << error;
    packages = std::make_unique<storage::package_store>(root / "packages");
    ctl = spawn_controller(*sys, *kv, *packages, {}, {});
    io = std::make_unique<net::io_runtime>(1);
    // The destination: the kernel completes connections from the backlog.
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(listen_fd, reinterpret_cast<sockaddr*>(&a), len), 0);
    ASSERT_EQ(listen(listen_fd, 16), 0);
    ASSERT_EQ(getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    caf::scoped_actor self{*sys};
    self->request(ctl, seconds(5), egress_put_atom::value, egress_config{"t", {"127.0.0.1"}, 0})
        .receive([](egress_config&) {}, [&](caf::error& e) { FAIL() << sys->render(e); });
  }

  void TearDown() override {
    caf::anon_send_exit(ctl, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
    io->stop();
    ::close(listen_fd);
    sys.reset();
    kv.reset();
    fs::remove_all(root);
  }

  /// Registers `gw` as gateway `id` with the controller.
  void register_gateway(const std::string& id, caf::actor gw) {
    caf::scoped_actor self{*sys};
    self->request(ctl, seconds(5), gateway_up_atom::value, gateway_entry{id, "", gw})
        .receive([](std::vector<egress_config>&) {},
                 [&](caf::error& e) { FAIL() << sys->render(e); });
  }

  /// A gateway whose node is alive and which takes rules, but never answers an open.
  caf::actor stuck_gateway() {
    return sys->spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {
          [this](gw_open_atom, uint64_t, const std::string&, const std::string&, uint16_t,
                 const caf::actor&) { ++stuck_opens; },
          [](egress_atom, const egress_config&) { return true; },
          [](gw_close_atom, uint64_t) {},
      };
    });
  }

  /// Opens a path to the destination through `opener`; what `opened` said.
  std::string open(const net::egress_opener& opener, std::unique_ptr<net::egress_path>& path) {
    opening o;
    auto said = o.said->get_future();
    path = opener("127.0.0.1", port, o.events());
    if (said.wait_for(seconds(10)) != std::future_status::ready)
      return "(no answer)";
    return said.get();
  }
};

} // namespace

TEST_F(EgressFailover, AGatewayThatNeverAnswersIsLeftForTheNextAfterTheOpenTimeout) {
  auto stuck = stuck_gateway();
  register_gateway("gw-stuck", stuck);
  auto real = spawn_gateway(*sys, *io, {"gw-real", 1000, 60'000, 16});
  caf::anon_send(real, join_atom::value, scheduler_actor{}, ctl);
  // The real gateway registers on its own: wait until it is listed.
  caf::scoped_actor self{*sys};
  for (auto until = steady_clock::now() + seconds(5); steady_clock::now() < until;) {
    size_t n = 0;
    self->request(ctl, seconds(5), gateways_atom::value)
        .receive([&](std::vector<gateway_entry>& all) { n = all.size(); }, [](caf::error&) {});
    if (n == 2)
      break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  auto balancer = spawn_egress_balancer(*sys, ctl, {}); // its first list names both
  auto opener = gateway_opener(*sys, balancer, "t", 300);
  // Two at once: the fewest-connections rule sends one to each gateway.
  std::unique_ptr<net::egress_path> p1, p2;
  auto first = std::async(std::launch::async, [&] { return open(opener, p1); });
  auto second = std::async(std::launch::async, [&] { return open(opener, p2); });
  EXPECT_EQ(first.get(), "");
  EXPECT_EQ(second.get(), "");
  EXPECT_EQ(stuck_opens.load(), 1); // tried once, then left after 300 ms
  p1.reset();
  p2.reset();
  for (auto hdl : {caf::actor_cast<caf::actor>(balancer), caf::actor_cast<caf::actor>(real), stuck})
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
}

TEST_F(EgressFailover, WithOnlyAGatewayThatNeverAnswersTheConnectionFailsNamingIt) {
  auto stuck = stuck_gateway();
  register_gateway("gw-stuck", stuck);
  auto balancer = spawn_egress_balancer(*sys, ctl, {});
  auto opener = gateway_opener(*sys, balancer, "t", 200);
  std::unique_ptr<net::egress_path> path;
  EXPECT_EQ(open(opener, path), "unavailable: gateway gw-stuck did not answer within 200 ms");
  path.reset();
  for (auto hdl : {caf::actor_cast<caf::actor>(balancer), stuck})
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
}
