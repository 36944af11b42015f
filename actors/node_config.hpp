#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace troupe {

/// The configuration of one troupe-node: every field is a command-line flag
/// (`--group.name=value`) and an INI key (`[group] name=value`); `--help` lists
/// them. With nothing set, a node runs every role on loopback with its data
/// under ./troupe-data.
struct node_config : caf::actor_system_config {
  // [node]
  std::string roles = "ingress,controller,host,gateway"; ///< comma-separated
  std::string data_dir = "troupe-data";
  std::string region = "local";
  // [ingress]
  std::string ingress_host = "127.0.0.1";
  uint16_t ingress_port = 8080;
  size_t ingress_io_threads = 1;
  size_t max_in_flight = 1000;           ///< requests the ingress holds at once; more get 503
  size_t max_async_payload = 256 * 1024; ///< largest Event invocation (413 above)
  // [http]
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 70 * 1024 * 1024;
  caf::timespan read_timeout = std::chrono::seconds(10);
  caf::timespan idle_timeout = std::chrono::seconds(60);
  // [cluster]
  /// host:port the controller node's door, or a host's direct connections,
  /// listen on ("": none)
  std::string cluster_listen;
  std::string cluster_controller; ///< host:port of the controller node's door, for the others
  bool cluster_plaintext = false; ///< plain BASP without TLS: development only
  /// How long a restarted controller waits for hosts to report the instances
  /// placed on them before it marks them lost.
  caf::timespan reconcile_grace = std::chrono::seconds(10);
  // [placement]
  std::string dedicated_tenants; ///< comma-separated tenants with hosts of their own
  int32_t tenant_instances = 0;  ///< a tenant's instances across the cluster (0: no limit)
  int32_t unreserved_min = 100;  ///< what reservations must leave to a tenant's other functions
  // [host]
  std::string host_id = "host-1";
  std::string host_zone = "local";
  int32_t host_cpus = 0; ///< 0: the cores this machine has
  int32_t host_memory_mb = 8192;
  size_t pool_size = 2;           ///< templates per (runtime family, memory size), at least
  size_t pool_max = 32;           ///< at most, while cold starts come fast
  double pool_refill = 200;       ///< templates a pool makes a second at most for refills
  size_t template_makers = 4;     ///< threads making templates in parallel
  size_t claimers = 8;            ///< threads claiming templates side by side
  double host_launch_rate = 1000; ///< instances the host starts a second ...
  double host_launch_burst = 200; ///< ... and at once
  std::string warm_runtimes = "provided,python3,nodejs"; ///< pools filled at start (128 MB)
  uint32_t uid_base = 200000;      ///< each sandbox runs as its own uid from here ...
  uint32_t uid_count = 65536;      ///< ... among this many (0: all as nobody)
  int32_t tmp_mb = 512;            ///< /tmp size cap of every instance
  uint32_t pids_max = 1024;        ///< processes and threads of one instance
  uint32_t function_log_kb = 1024; ///< invocation logs kept per function on a host
  std::string init_path;           ///< troupe-sandbox-init; default: beside troupe-node
  std::string runtimes_dir;        ///< runtime files; default: runtimes/ beside troupe-node
  // [router]
  int32_t max_instances = 32; ///< per function (the scheduler holds it cluster-wide)
  int32_t max_queue = 64;     ///< waiting requests per function; more get 429
  caf::timespan max_wait = std::chrono::seconds(10);
  caf::timespan keep_alive = std::chrono::seconds(300);
  double retry_budget = 0.1; ///< retries at most this fraction of requests
  double launch_rate = 100;  ///< a function's new instances a second, on each ingress node
  double launch_burst = 32;  ///< ... and at once
  caf::timespan retry_delay = std::chrono::milliseconds(10);
  caf::timespan max_retry_delay = std::chrono::seconds(1);
  int32_t breaker_failures = 5; ///< platform failures in a row that open a host's breaker
  caf::timespan breaker_cool_down = std::chrono::milliseconds(500);
  // [admission] (each ingress node enforces these for itself)
  double tenant_rate = 0;            ///< a tenant's invocations a second (0: no limit)
  double tenant_burst = 0;           ///< saved up beyond the rate
  int64_t tenant_concurrency = 1000; ///< a tenant's invocations in flight (0: no limit)
  // [async]
  size_t async_max_events = 100'000; ///< events a node's queue holds; more get 429
  int32_t async_concurrency = 16;    ///< deliveries under way at once
  int32_t async_max_retries = 2;     ///< retries after the function's own error (0..2)
  caf::timespan async_max_event_age = std::chrono::hours(6);
  caf::timespan async_function_error_delay = std::chrono::seconds(60);
  caf::timespan async_retry_delay = std::chrono::seconds(1);
  caf::timespan async_max_retry_delay = std::chrono::seconds(300);
  // [auth]
  bool auth_anonymous = false;              ///< development only: no signatures checked
  std::string anonymous_tenant = "default"; ///< whose every request is, when anonymous
  std::string tenants_file;                 ///< tenants and access keys the controller stores
  caf::timespan key_cache_ttl = std::chrono::seconds(60);
  // [admin]
  std::string admin_listen;     ///< host:port of the admin console's service ("": none)
  std::string admin_token_file; ///< file holding the admin token the console must send
  bool admin_plaintext = false; ///< the console connects without TLS: development only
  // [log]
  std::string log_level = "info";  ///< debug, info, warn or error
  std::string log_format = "json"; ///< json (JSON lines) or text
  // [metrics]
  std::string metrics_listen; ///< host:port serving Prometheus' /metrics ("": none)
  // [code]
  int64_t max_archive_mb = 50;
  int64_t max_unpacked_mb = 250;
  int64_t max_files = 20'000;    ///< files, directories and links in one package
  int64_t code_cache_mb = 10240; ///< a host's package cache bound (not the origin's)
  bool code_extract = false;     ///< no FUSE view: packages are extracted instead
  // [gateway]
  std::string gateway_id; ///< its name ("": "gw-" and host.id)
  caf::timespan gateway_connect_timeout = std::chrono::seconds(5);
  caf::timespan gateway_idle_timeout = std::chrono::minutes(5);
  int64_t gateway_tenant_connections = 1024;

  node_config();

  bool has_role(const std::string& role) const;
  /// True when the node takes part in a cluster (it listens for or joins one).
  bool clustered() const { return !cluster_listen.empty() || !cluster_controller.empty(); }
  /// Why these settings cannot run (empty if they can): unknown roles, cluster
  /// addresses that are not host:port, roles and addresses that do not fit
  /// together, TLS without its files.
  std::string cluster_problem() const;
  /// The name of this node's gateway: gateway.id, else "gw-" and host.id.
  std::string gateway_name() const { return gateway_id.empty() ? "gw-" + host_id : gateway_id; }
  /// warm_runtimes as a list.
  std::vector<std::string> warm_runtime_list() const;
  /// dedicated_tenants as a set.
  std::set<std::string> dedicated_tenant_set() const;
  /// Fills the defaults that depend on where the binary lives.
  void resolve_paths(const std::string& self_exe_dir);
  /// The effective settings, one per line, for the start-up log.
  std::string summary() const;
};

/// The admin token in `path` (surrounding white space dropped), or "" with
/// `error` set when the file cannot be read or holds under 16 characters.
std::string read_admin_token(const std::string& path, std::string& error);

/// Splits "host:port"; false (and `error` set) if it is not one.
bool parse_endpoint(const std::string& text, std::string& host, uint16_t& port, std::string& error);

} // namespace troupe
