// troupe-node: one node of a Troupe cluster, its roles chosen by configuration.
#include "actors/admin.hpp"
#include "actors/cluster.hpp"
#include "actors/controller.hpp"
#include "actors/event_queue.hpp"
#include "actors/host.hpp"
#include "actors/ingress.hpp"
#include "actors/instance_env.hpp"
#include "actors/node_config.hpp"
#include "actors/protocol/messages.hpp"
#include "actors/scheduler.hpp"
#include "net/http_server.hpp"
#include "net/io_runtime.hpp"
#include "net/lambda_api.hpp"
#include "net/log.hpp"
#include "net/metrics.hpp"
#include "net/tenants_file.hpp"
#include "storage/kv_store.hpp"
#include "storage/log_store.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sys/resource.h>
#include <thread>

namespace fs = std::filesystem;
using namespace troupe;

namespace {

/// Blocks the stop signals in every thread so that main can sigwait for them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return set;
}

std::string exe_dir() {
  return fs::read_symlink("/proc/self/exe").parent_path().string();
}

net::http_limits http_limits_of(const node_config& cfg) {
  net::http_limits l;
  l.max_header_bytes = cfg.max_header_bytes;
  l.max_body_bytes = cfg.max_body_bytes;
  l.read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.read_timeout);
  l.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.idle_timeout);
  return l;
}

int64_t to_ms(caf::timespan t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
}

ingress_settings ingress_settings_of(const node_config& cfg) {
  ingress_settings s;
  s.max_in_flight = cfg.max_in_flight;
  s.max_async_payload = cfg.max_async_payload;
  s.tenants = {cfg.tenant_rate, cfg.tenant_burst, cfg.tenant_concurrency};
  s.region = cfg.region;
  s.anonymous = cfg.auth_anonymous;
  s.anonymous_tenant = cfg.anonymous_tenant;
  s.key_cache_ms = to_ms(cfg.key_cache_ttl);
  auto& r = s.routers;
  r.max_instances = cfg.max_instances;
  r.max_queue = cfg.max_queue;
  r.max_wait_ms = to_ms(cfg.max_wait);
  r.keep_alive_ms = to_ms(cfg.keep_alive);
  r.retry_ratio = cfg.retry_budget;
  r.launch_rate = cfg.launch_rate;
  r.launch_burst = cfg.launch_burst;
  r.backoff = {to_ms(cfg.retry_delay), to_ms(cfg.max_retry_delay)};
  r.breaker.consecutive_failures = cfg.breaker_failures;
  r.breaker.cool_down_ms = to_ms(cfg.breaker_cool_down);
  return s;
}

event_queue_settings event_queue_settings_of(const node_config& cfg) {
  event_queue_settings e;
  e.max_events = cfg.async_max_events;
  e.concurrency = cfg.async_concurrency;
  e.retry.max_retries = cfg.async_max_retries;
  e.retry.max_event_age_ms = to_ms(cfg.async_max_event_age);
  auto fe = to_ms(cfg.async_function_error_delay);
  e.retry.function_error_backoff = {fe, 2 * fe};
  e.retry.retry_backoff = {to_ms(cfg.async_retry_delay), to_ms(cfg.async_max_retry_delay)};
  return e;
}

host_settings host_settings_of(const node_config& cfg, storage::package_store& packages,
                               const package_service& service, storage::log_store& logs,
                               net::io_runtime& io) {
  auto data = fs::absolute(cfg.data_dir);
  host_settings h;
  h.id = cfg.host_id;
  h.zone = cfg.host_zone;
  h.memory_mb = cfg.host_memory_mb;
  h.cpus = cfg.host_cpus > 0 ? cfg.host_cpus : int32_t(std::thread::hardware_concurrency());
  h.pool_min = cfg.pool_size;
  h.pool_max = cfg.pool_max;
  h.pool_refill_per_s = cfg.pool_refill;
  h.template_makers = cfg.template_makers;
  h.claimers = cfg.claimers;
  h.launch_rate = cfg.host_launch_rate;
  h.launch_burst = cfg.host_launch_burst;
  h.warm_runtimes = cfg.warm_runtime_list();
  h.uid_base = cfg.uid_base;
  h.uid_count = cfg.uid_count;
  h.tmp_mb = cfg.tmp_mb;
  h.pids_max = cfg.pids_max;
  h.init_path = cfg.init_path;
  h.runtimes_dir = cfg.runtimes_dir;
  h.run_dir = (data / "run").string();
  h.region = cfg.region;
  h.packages = &packages;
  h.package_agent = service.agent();
  h.logs = &logs;
  h.io = &io;
  return h;
}

/// Every instance holds a few descriptors here (its Runtime API listener and
/// connection, pidfds, the control socket): thousands of idle instances need
/// far more than a login shell's limit. Raised as far as the kernel allows
/// (fs.nr_open, or the hard limit without privileges); sandboxes set their own.
void raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
    return;
  rlim_t want = 1 << 20;
  if (std::ifstream nr{"/proc/sys/fs/nr_open"}; nr >> want)
    want = std::min<rlim_t>(want, 1 << 20);
  rlimit raised{want, want};
  if (setrlimit(RLIMIT_NOFILE, &raised) < 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

/// An idle instance holds about six descriptors here (Runtime API listener
/// and connection, egress listener, pidfd, output pipe, cgroup file): a limit
/// the node could not raise (no CAP_SYS_RESOURCE, a low hard limit) caps the
/// instances below what host.memory-mb allows, and starts beyond it fail
/// with "Too many open files". Said once, at start, with the fix.
void warn_if_few_open_files(const node_config& cfg) {
  rlimit lim{};
  if (!cfg.has_role("host") || getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY)
    return;
  constexpr rlim_t per_instance = 6, reserve = 1000;
  auto by_memory = rlim_t(std::max(0, cfg.host_memory_mb / 128));
  auto by_files = lim.rlim_cur > reserve ? (lim.rlim_cur - reserve) / per_instance : 0;
  if (by_files >= by_memory)
    return;
  net::log::warn("open_file_limit",
                 "the open-file limit of " + std::to_string(lim.rlim_cur) + " allows about " +
                     std::to_string(by_files) + " instances, host.memory-mb " +
                     std::to_string(cfg.host_memory_mb) + " about " + std::to_string(by_memory) +
                     ": raise the hard limit (ulimit -Hn, LimitNOFILE=) or run with "
                     "CAP_SYS_RESOURCE")
      .field("limit", int64_t(lim.rlim_cur))
      .field("instances_by_files", int64_t(by_files))
      .field("instances_by_memory", int64_t(by_memory));
}

/// Publishes `hdl` at `listen` (host:port), through TLS unless plaintext is
/// asked for; the bound host:port, or "" with `error` set.
template <class Handle>
std::string publish_at(caf::actor_system& sys, const std::string& listen, bool plaintext,
                       const Handle& hdl, std::string& error) {
  std::string host;
  uint16_t port = 0;
  if (!parse_endpoint(listen, host, port, error))
    return {};
  auto bound = plaintext ? sys.middleman().publish(hdl, port, host.c_str(), true)
                         : caf::openssl::publish(hdl, port, host.c_str(), true);
  if (!bound) {
    error = sys.render(bound.error());
    return {};
  }
  return host + ":" + std::to_string(*bound);
}

/// GET /metrics: the node's metrics in Prometheus' text format.
void serve_metrics(net::http_request req, net::http_responder respond) {
  net::http_response r;
  if (req.path() != "/metrics") {
    r = net::json_response(404, R"({"message":"only /metrics is served here"})");
  } else if (req.method != "GET" && req.method != "HEAD") {
    r = net::json_response(405, R"({"message":"/metrics takes GET"})");
    r.set("Allow", "GET, HEAD");
  } else {
    r.body = net::metrics::registry::node().render();
    r.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  }
  respond(std::move(r));
}

/// The registry's and the function logs' figures, read at every scrape.
void add_store_metrics(const storage::kv_store& store, const storage::log_store& logs) {
  net::metrics::registry::node().on_render([&store, &logs](net::metrics::registry& r) {
    auto s = store.statistics();
    r.get_counter("troupe_rocksdb_writes_total", "Writes to the node's RocksDB store")
        .raise_to(double(s.writes));
    r.get_counter("troupe_rocksdb_synced_writes_total",
                  "Writes to the node's RocksDB store flushed to disk before they returned")
        .raise_to(double(s.synced_writes));
    r.get_counter("troupe_rocksdb_write_errors_total",
                  "Writes to the node's RocksDB store that failed")
        .raise_to(double(s.write_errors));
    r.get_counter("troupe_rocksdb_reads_total", "Gets and scans of the node's RocksDB store")
        .raise_to(double(s.reads));
    r.get_gauge("troupe_rocksdb_keys", "RocksDB's estimate of the keys it holds")
        .set(double(s.keys_estimate));
    r.get_gauge("troupe_rocksdb_sst_bytes", "RocksDB table files on disk").set(double(s.sst_bytes));
    r.get_gauge("troupe_rocksdb_memtable_bytes", "RocksDB data not yet flushed to table files")
        .set(double(s.memtable_bytes));
    r.get_gauge("troupe_rocksdb_compactions_running", "RocksDB compactions under way")
        .set(double(s.compactions_running));
    r.get_gauge("troupe_rocksdb_background_errors", "RocksDB background errors since it opened")
        .set(double(s.background_errors));
    r.get_counter("troupe_function_log_records_dropped_total",
                  "Invocation log records dropped because the log writer fell behind")
        .raise_to(double(logs.dropped()));
  });
}

/// Ends the process if a clean stop takes too long: a stuck actor must not
/// keep a stopped node alive.
void arm_shutdown_watchdog() {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(15));
    net::log::error("shutdown_timeout", "shutdown took longer than 15 s, exiting");
    net::log::flush();
    std::_Exit(3);
  }).detach();
}

/// The access keys of the tenants file (none without one), or an error.
bool read_tenants_file(const node_config& cfg, std::vector<access_key>& keys, std::string& error) {
  if (cfg.tenants_file.empty())
    return true;
  std::ifstream in{cfg.tenants_file};
  if (!in) {
    error = "cannot read auth.tenants-file " + cfg.tenants_file;
    return false;
  }
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  std::vector<net::credential> creds;
  if (auto err = net::parse_tenants_file(text, creds)) {
    error = "auth.tenants-file " + cfg.tenants_file + ": " + *err;
    return false;
  }
  for (auto& c : creds)
    keys.push_back({c.key_id, c.secret, c.tenant, c.operator_access, 0});
  return true;
}

int run(node_config& cfg, const sigset_t& stop_signals) {
  fs::create_directories(cfg.data_dir);
  std::string error;
  auto store = storage::open_rocksdb_store((fs::path{cfg.data_dir} / "db").string(), error);
  if (!store) {
    net::log::error("registry_unreadable", "cannot open the registry: " + error);
    return 1;
  }
  auto data = fs::absolute(cfg.data_dir);
  // The controller's node keeps the origin copy of every package; a host's
  // copies are a cache, bounded.
  bool origin = cfg.has_role("controller");
  storage::package_store packages{data / "packages",
                                  origin ? 0 : uint64_t(cfg.code_cache_mb) << 20};
  storage::log_store logs{fs::path{cfg.data_dir} / "logs", uint64_t(cfg.function_log_kb) << 10};
  net::io_runtime host_io{1};
  std::optional<net::io_runtime> gateway_io; // the gateway's sockets: off the host's io thread
  net::io_runtime http_io{cfg.ingress_io_threads};
  caf::actor_system sys{cfg};
  std::optional<package_service> package_svc;
  if (origin || cfg.has_role("host")) {
    package_settings ps;
    ps.host_id = cfg.has_role("host") ? cfg.host_id : "";
    ps.mount = data / "packages-mnt";
    ps.trees = data / "packages-tree";
    ps.fuse = !cfg.code_extract;
    package_svc.emplace(sys, packages, std::move(ps));
  }
  controller_actor controller;
  scheduler_actor scheduler;
  if (cfg.has_role("controller")) {
    scheduler_settings ss{cfg.max_instances,
                          to_ms(cfg.reconcile_grace),
                          cfg.dedicated_tenant_set(),
                          cfg.tenant_instances,
                          {}};
    ss.breaker.consecutive_failures = cfg.breaker_failures;
    ss.breaker.cool_down_ms = to_ms(cfg.breaker_cool_down);
    controller_settings cs;
    cs.tenant_instances = cfg.tenant_instances;
    cs.unreserved_min = cfg.unreserved_min;
    cs.limits = {uint64_t(cfg.max_archive_mb) << 20, uint64_t(cfg.max_unpacked_mb) << 20,
                 uint64_t(cfg.max_files)};
    cs.origin = package_svc->agent();
    cs.legacy_code = data / "code";
    if (!read_tenants_file(cfg, cs.bootstrap_keys, error)) {
      net::log::error("bad_tenants_file", error);
      return 2;
    }
    scheduler = spawn_scheduler(sys, *store, ss);
    try {
      controller = spawn_controller(sys, *store, packages, std::move(cs), scheduler);
    } catch (const std::exception& e) {
      net::log::error("controller_failed", e.what());
      caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
      return 1;
    }
  }
  bool joins = !cfg.cluster_controller.empty();
  peer_connector_actor connector; // direct connections to hosts and gateways
  if (joins && (cfg.has_role("ingress") || cfg.has_role("host")))
    connector = spawn_peer_connector(sys, !cfg.cluster_plaintext);
  gateway_actor gateway;
  if (cfg.has_role("gateway")) {
    gateway_settings gs;
    gs.id = cfg.gateway_name();
    gs.connect_timeout_ms = int(to_ms(cfg.gateway_connect_timeout));
    gs.idle_ms = int(to_ms(cfg.gateway_idle_timeout));
    gs.tenant_connections = int32_t(cfg.gateway_tenant_connections);
    gateway = spawn_gateway(sys, gateway_io.emplace(1), std::move(gs));
  }
  host_node_actor host;
  egress_balancer_actor egress;
  if (cfg.has_role("host")) {
    auto hs = host_settings_of(cfg, packages, *package_svc, logs, host_io);
    hs.egress = egress = spawn_egress_balancer(sys, controller, connector);
    hs.egress_open_timeout_ms = int(to_ms(cfg.gateway_connect_timeout)) + 3000;
    host = spawn_host(sys, std::move(hs), scheduler, controller);
  }
  cluster_actor door;
  caf::actor joiner;
  ingress_actor ingress;
  event_queue_actor events;
  auto stop_actors = [&] {
    for (auto hdl : {joiner, caf::actor_cast<caf::actor>(door), caf::actor_cast<caf::actor>(events),
                     caf::actor_cast<caf::actor>(ingress), caf::actor_cast<caf::actor>(connector),
                     caf::actor_cast<caf::actor>(host), caf::actor_cast<caf::actor>(egress),
                     caf::actor_cast<caf::actor>(gateway), caf::actor_cast<caf::actor>(scheduler),
                     caf::actor_cast<caf::actor>(controller)})
      if (hdl)
        caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  };
  std::string cluster_line;
  if (!cfg.cluster_listen.empty()) {
    // The controller's node takes joining nodes there; a host, the direct
    // connections of ingress nodes (it tells the scheduler where).
    if (controller)
      door = spawn_cluster_door(sys, controller, scheduler);
    auto endpoint =
        controller ? publish_at(sys, cfg.cluster_listen, cfg.cluster_plaintext, door, error)
        : host     ? publish_at(sys, cfg.cluster_listen, cfg.cluster_plaintext, host, error)
                   : publish_at(sys, cfg.cluster_listen, cfg.cluster_plaintext, gateway, error);
    if (endpoint.empty()) {
      net::log::error("listen_failed",
                      "cannot listen for the cluster on " + cfg.cluster_listen + ": " + error);
      stop_actors();
      return 1;
    }
    if (host && !controller)
      caf::anon_send(host, endpoint_atom::value, endpoint);
    if (gateway) // where hosts connect to its node directly
      caf::anon_send(gateway, endpoint_atom::value, endpoint);
    cluster_line = ", cluster on " + endpoint;
  }
  if (gateway && controller)
    caf::anon_send(gateway, join_atom::value, scheduler, controller);
  std::unique_ptr<net::http_server> http;
  if (cfg.has_role("ingress")) {
    ingress = spawn_ingress(sys, ingress_settings_of(cfg), controller, scheduler, connector);
    events = spawn_event_queue(sys, *store, event_queue_settings_of(cfg), ingress);
    caf::anon_send(ingress, join_atom::value, events);
    http = std::make_unique<net::http_server>(
        http_io, http_limits_of(cfg), [ingress](net::http_request req, net::http_responder r) {
          caf::anon_send(ingress, http_atom::value, http_exchange{std::move(req), std::move(r)});
        });
    if (auto err = http->listen(cfg.ingress_host, cfg.ingress_port); !err.empty()) {
      net::log::error("listen_failed", "cannot listen on " + cfg.ingress_host + ":" +
                                           std::to_string(cfg.ingress_port) + ": " + err);
      caf::anon_send_exit(ingress, caf::exit_reason::user_shutdown);
      ingress = nullptr;
    }
  }
  admin_actor admin;
  if (!cfg.admin_listen.empty()) {
    auto token = read_admin_token(cfg.admin_token_file, error); // checked at start
    admin = spawn_admin(sys, std::move(token), ingress);
    auto endpoint = publish_at(sys, cfg.admin_listen, cfg.admin_plaintext, admin, error);
    if (endpoint.empty()) {
      net::log::error("listen_failed",
                      "cannot listen for the admin console on " + cfg.admin_listen + ": " + error);
      caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
      stop_actors();
      return 1;
    }
    cluster_line += ", admin console on " + endpoint;
  }
  // A thread of its own: rendering a large registry must not hold up the
  // ingress's requests or the sandboxes' Runtime API.
  std::unique_ptr<net::io_runtime> metrics_io;
  std::unique_ptr<net::http_server> metrics_http;
  if (!cfg.metrics_listen.empty()) {
    net::metrics::add_process_metrics(net::metrics::registry::node());
    add_store_metrics(*store, logs);
    metrics_io = std::make_unique<net::io_runtime>(1);
    metrics_http =
        std::make_unique<net::http_server>(*metrics_io, http_limits_of(cfg), serve_metrics);
    std::string address;
    uint16_t port = 0;
    parse_endpoint(cfg.metrics_listen, address, port, error); // checked at start
    if (auto err = metrics_http->listen(address, port); !err.empty()) {
      net::log::error("listen_failed",
                      "cannot listen for metrics on " + cfg.metrics_listen + ": " + err);
      if (admin)
        caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
      stop_actors();
      return 1;
    }
    cluster_line +=
        ", metrics on http://" + address + ":" + std::to_string(metrics_http->port()) + "/metrics";
  }
  if (joins) {
    auto name = host      ? cfg.host_id
                : gateway ? "gateway " + cfg.gateway_name()
                          : "ingress " + cfg.ingress_host + ":" + std::to_string(cfg.ingress_port);
    join_settings js{name, "", 0, !cfg.cluster_plaintext};
    parse_endpoint(cfg.cluster_controller, js.host, js.port, error); // checked at start
    std::vector<caf::actor> members;
    for (auto m : {caf::actor_cast<caf::actor>(host), caf::actor_cast<caf::actor>(ingress),
                   caf::actor_cast<caf::actor>(gateway)})
      if (m)
        members.push_back(m);
    joiner = spawn_joiner(sys, std::move(js), std::move(members));
  }
  net::log::info("started", cfg.summary()).field("roles", cfg.roles);
  warn_if_few_open_files(cfg);
  if (http && ingress)
    std::cout << "troupe-node: ready, ingress on http://" << cfg.ingress_host << ":" << http->port()
              << cluster_line << std::endl;
  else
    std::cout << "troupe-node: ready" << cluster_line << std::endl;
  int sig = 0;
  if (!(cfg.has_role("ingress") && !ingress))
    sigwait(&stop_signals, &sig);
  net::log::info("stopping", "stopping");
  arm_shutdown_watchdog();
  if (http)
    http->stop();
  if (metrics_http)
    metrics_http->stop();
  stop_actors();
  if (admin)
    caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
  if (package_svc)
    package_svc->stop(); // no code read waits on a fetch, and the FUSE view is gone
  sys.await_all_actors_done();
  http_io.stop();
  host_io.stop();
  if (gateway_io)
    gateway_io->stop();
  if (metrics_io)
    metrics_io->stop();
  return cfg.has_role("ingress") && !ingress ? 1 : 0;
}

/// `--help` lists every option: CAF's short help shows only its global ones.
std::vector<char*> with_long_help(int argc, char** argv) {
  static char long_help[] = "--long-help";
  std::vector<char*> out{argv, argv + argc};
  for (auto& a : out)
    if (std::string_view{a} == "--help" || std::string_view{a} == "-h")
      a = long_help;
  return out;
}

} // namespace

int main(int argc, char** argv) {
  auto stop_signals = block_stop_signals();
  auto args = with_long_help(argc, argv);
  node_config cfg;
  if (auto err = cfg.parse(argc, args.data())) {
    std::cerr << "troupe-node: " << caf::actor_system_config::render(err) << "\n";
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  cfg.resolve_paths(exe_dir());
  if (auto problem = cfg.cluster_problem(); !problem.empty()) {
    std::cerr << "troupe-node: " << problem << "\n";
    return 2;
  }
  net::log::settings ls;
  ls.min = *net::log::parse_level(cfg.log_level); // checked above
  ls.json = cfg.log_format == "json";
  ls.program = "troupe-node";
  ls.node = cfg.has_role("host") ? cfg.host_id
            : cfg.has_role("controller")
                ? "controller"
                : "ingress " + cfg.ingress_host + ":" + std::to_string(cfg.ingress_port);
  net::log::configure(std::move(ls));
  // CAF's network layer, only where nodes (or the admin console) talk to this one.
  bool admin = !cfg.admin_listen.empty();
  if (cfg.clustered() || admin)
    cfg.load<caf::io::middleman>();
  if ((cfg.clustered() && !cfg.cluster_plaintext) || (admin && !cfg.admin_plaintext))
    cfg.load<caf::openssl::manager>();
  for (const auto& family : cfg.warm_runtime_list())
    if (std::count(runtime_families().begin(), runtime_families().end(), family) == 0) {
      std::cerr << "troupe-node: host.warm-runtimes: unknown runtime family '" << family
                << "' (known: provided, python3, nodejs)\n";
      return 2;
    }
  raise_open_file_limit();
  return run(cfg, stop_signals);
}
