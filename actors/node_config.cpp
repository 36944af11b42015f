#include "actors/node_config.hpp"

#include "actors/protocol/type_ids.hpp"
#include "net/log.hpp"

#include <caf/atom.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/settings.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace troupe {

node_config::node_config() {
  opt_group{custom_options_, "node"}
      .add(roles, "roles", "comma-separated roles: ingress, controller, host")
      .add(data_dir, "data-dir", "directory of the registry database, code and logs")
      .add(region, "region", "region name used in ARNs");
  opt_group{custom_options_, "ingress"}
      .add(ingress_host, "host", "address the HTTP API listens on")
      .add(ingress_port, "port", "port the HTTP API listens on (0 picks one)")
      .add(ingress_io_threads, "io-threads", "HTTP I/O threads")
      .add(max_in_flight, "max-in-flight", "requests held at once before answering 503")
      .add(max_async_payload, "max-async-payload", "largest Event invocation payload (413 above)");
  opt_group{custom_options_, "http"}
      .add(max_header_bytes, "max-header-bytes", "request header limit (431 above)")
      .add(max_body_bytes, "max-body-bytes", "request body limit (413 above)")
      .add(read_timeout, "read-timeout", "time to receive a whole request (408 after)")
      .add(idle_timeout, "idle-timeout", "keep-alive connection idle time before closing");
  opt_group{custom_options_, "cluster"}
      .add(cluster_listen, "listen",
           "host:port where the controller node takes other nodes, or where a host takes "
           "direct connections from ingress nodes (port 0 picks one)")
      .add(cluster_controller, "controller", "host:port of the controller node, to join it")
      .add(cluster_plaintext, "plaintext",
           "connect nodes without TLS (development only: anyone reaching the port is in)")
      .add(reconcile_grace, "reconcile-grace",
           "how long a restarted controller waits for hosts to report their instances");
  opt_group{custom_options_, "placement"}
      .add(dedicated_tenants, "dedicated-tenants",
           "comma-separated tenants whose instances run on hosts of their own (the others share)")
      .add(tenant_instances, "tenant-instances",
           "instances of one tenant across the cluster (0: no limit)")
      .add(unreserved_min, "unreserved-min",
           "instances that functions' reserved concurrency must leave to a tenant's others");
  opt_group{custom_options_, "host"}
      .add(host_id, "id", "name of this host in the cluster")
      .add(host_zone, "zone", "zone label, for spreading a function's instances")
      .add(host_cpus, "cpus", "cores this host offers (0: all of this machine's)")
      .add(host_memory_mb, "memory-mb", "memory for instances, sold in 128 MB slots")
      .add(pool_size, "pool-size", "templates per (runtime family, memory size), at least")
      .add(pool_max, "pool-max", "templates per (runtime family, memory size), at most")
      .add(pool_refill, "pool-refill",
           "templates a host makes a second for refills, all pools together")
      .add(template_makers, "template-makers", "threads making templates in parallel")
      .add(claimers, "claimers", "threads claiming templates for cold starts side by side")
      .add(host_launch_rate, "launch-rate", "instances this host starts a second (token bucket)")
      .add(host_launch_burst, "launch-burst", "instances this host starts at once")
      .add(warm_runtimes, "warm-runtimes",
           "comma-separated runtime families whose 128 MB pools fill at start")
      .add(uid_base, "uid-base", "first uid of sandboxes (each runs as its own uid)")
      .add(uid_count, "uid-count", "uids for sandboxes from uid-base (0: all run as nobody)")
      .add(tmp_mb, "tmp-mb", "size cap of each instance's /tmp")
      .add(pids_max, "pids-max", "processes and threads of one instance")
      .add(function_log_kb, "function-log-kb",
           "invocation logs kept on this host per function (KiB)")
      .add(init_path, "init-path", "path of troupe-sandbox-init (default: beside troupe-node)")
      .add(runtimes_dir, "runtimes-dir", "runtime files (default: runtimes/ beside troupe-node)");
  opt_group{custom_options_, "router"}
      .add(max_instances, "max-instances", "instances per function (across the cluster)")
      .add(max_queue, "max-queue", "waiting requests per function before 429")
      .add(max_wait, "max-wait", "longest a request waits for an instance")
      .add(keep_alive, "keep-alive", "idle time before an instance is reclaimed")
      .add(retry_budget, "retry-budget", "retries at most this fraction of requests (0 to 1)")
      .add(launch_rate, "launch-rate", "new instances of one function a second (token bucket)")
      .add(launch_burst, "launch-burst", "new instances of one function at once")
      .add(retry_delay, "retry-delay", "backoff before a request's first retry (doubles, jittered)")
      .add(max_retry_delay, "max-retry-delay", "longest backoff between attempts")
      .add(breaker_failures, "breaker-failures",
           "platform failures in a row that open a function's breaker for a host")
      .add(breaker_cool_down, "breaker-cool-down",
           "how long an open breaker waits before a probe (doubles when it reopens)");
  opt_group{custom_options_, "admission"}
      .add(tenant_rate, "tenant-rate",
           "invocations a second each tenant may send through this node (0: no limit)")
      .add(tenant_burst, "tenant-burst", "invocations a tenant may send at once beyond its rate")
      .add(tenant_concurrency, "tenant-concurrency",
           "invocations of one tenant in flight at once on this node (0: no limit)");
  opt_group{custom_options_, "async"}
      .add(async_max_events, "max-events", "events a node's queue holds before 429")
      .add(async_concurrency, "concurrency", "event deliveries under way at once")
      .add(async_max_retries, "max-retries", "retries after a function error (0 to 2)")
      .add(async_max_event_age, "max-event-age",
           "how long throttled or failed events are retried before they become dead letters")
      .add(async_function_error_delay, "function-error-delay",
           "wait before the first retry after a function error (doubles for the second)")
      .add(async_retry_delay, "retry-delay",
           "first backoff after a throttle or platform error (doubles, with full jitter)")
      .add(async_max_retry_delay, "max-retry-delay", "longest of those backoffs");
  opt_group{custom_options_, "auth"}
      .add(auth_anonymous, "anonymous",
           "take unsigned requests, all as anonymous-tenant (development only: no "
           "authentication at all)")
      .add(anonymous_tenant, "anonymous-tenant", "the tenant of every request when anonymous")
      .add(tenants_file, "tenants-file",
           "JSON file of tenants and their access keys, stored by the controller at start")
      .add(key_cache_ttl, "key-cache-ttl",
           "how long an ingress node trusts an access key it looked up (revocations take "
           "this long to reach it)");
  opt_group{custom_options_, "admin"}
      .add(admin_listen, "listen",
           "host:port of the admin console's service, on the controller's node (port 0 picks "
           "one; unset: no console)")
      .add(admin_token_file, "token-file",
           "file holding the admin token troupe-admin must present (at least 16 characters)")
      .add(admin_plaintext, "plaintext",
           "take the console without TLS (development only: the token crosses the network "
           "in the clear)");
  opt_group{custom_options_, "log"}
      .add(log_level, "level", "the least level written: debug, info, warn or error")
      .add(log_format, "format",
           "json (a JSON object per line, for log collectors) or text (for people)");
  opt_group{custom_options_, "metrics"}.add(
      metrics_listen, "listen",
      "host:port serving Prometheus metrics at /metrics (port 0 picks one; unset: none)");
  opt_group{custom_options_, "code"}
      .add(max_archive_mb, "max-archive-mb", "largest accepted archive")
      .add(max_unpacked_mb, "max-unpacked-mb", "largest unpacked package")
      .add(max_files, "max-files", "most files, directories and links in one package")
      .add(code_cache_mb, "cache-mb",
           "code packages a host keeps, at most (least recently used ones that no instance "
           "runs are evicted; a node with the controller role keeps every package)")
      .add(code_extract, "extract",
           "extract packages to disk instead of reading them through the FUSE view (the "
           "automatic fallback where /dev/fuse is missing)");
  opt_group{custom_options_, "gateway"}
      .add(gateway_id, "id", "name of this node's vpc_gateway (default: gw- and host.id)")
      .add(gateway_connect_timeout, "connect-timeout",
           "for a gateway to connect to a destination; a host moves a connection to another "
           "gateway when one has not answered 3 s after this")
      .add(gateway_idle_timeout, "idle-timeout",
           "an outbound connection without a byte either way this long is closed")
      .add(gateway_tenant_connections, "tenant-connections",
           "most outbound connections one tenant has open through one gateway at once");
  // Measured with troupe-bench on 2 cores (see README). Warm invoke: sharing,
  // stealing and stealing without moderate polling are within noise at p50
  // (400-650 us, dominated by the two HTTP hops and the process switches).
  // Cold start: under stealing without moderate polling, work queued behind a
  // worker busy preparing a sandbox waits up to the 10 ms relaxed sleep to be
  // stolen (C++ cold start 16.8 ms against 8.3 ms with sharing); a 1 ms relaxed
  // sleep fixes that (7.6 ms) but idles at 5.7% CPU. Sharing idles at 0%.
  // See shared/CAF-0.17.md section 3.
  set("scheduler.policy", caf::atom("sharing"));
  // A silent node is cut off after the timeout, checked at every heartbeat:
  // detected within 1.25 s. A TLS handshake on loopback takes about 10 ms, so
  // a tick rarely lands inside one (which fails that connect: the joiner
  // retries). Every node must send heartbeats (shared/CAF-0.17.md, section 2).
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(250)});
  set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(1000)});
  set("scheduler.max-threads", size_t{2});
  register_troupe_types(*this);
}

namespace {

/// The non-empty items of a comma-separated option.
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in{text};
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

} // namespace

std::vector<std::string> node_config::warm_runtime_list() const {
  return comma_list(warm_runtimes);
}

std::set<std::string> node_config::dedicated_tenant_set() const {
  auto all = comma_list(dedicated_tenants);
  return {all.begin(), all.end()};
}

bool node_config::has_role(const std::string& role) const {
  auto all = comma_list(roles);
  return std::any_of(all.begin(), all.end(),
                     [&](const std::string& r) { return r == role || r == "all"; });
}

bool parse_endpoint(const std::string& text, std::string& host, uint16_t& port,
                    std::string& error) {
  auto colon = text.rfind(':');
  auto digits = colon == std::string::npos ? std::string{} : text.substr(colon + 1);
  bool numeric =
      !digits.empty() && digits.size() <= 5 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (colon == 0 || !numeric || std::stoul(digits) > 65535) {
    error = "'" + text + "' is not host:port";
    return false;
  }
  host = text.substr(0, colon);
  port = static_cast<uint16_t>(std::stoul(digits));
  return true;
}

std::string node_config::cluster_problem() const {
  auto roles_given = comma_list(roles);
  if (roles_given.empty())
    return "node.roles is empty: name one or more of ingress, controller, host";
  for (const auto& r : roles_given) {
    if (r != "ingress" && r != "controller" && r != "host" && r != "gateway" && r != "all")
      return "node.roles: unknown role '" + r + "' (known: ingress, controller, host, gateway)";
  }
  for (const auto* endpoint : {&cluster_listen, &cluster_controller}) {
    std::string host, error;
    uint16_t port = 0;
    if (!endpoint->empty() && !parse_endpoint(*endpoint, host, port, error))
      return "cluster: " + error;
  }
  if (!(retry_budget >= 0 && retry_budget <= 1))
    return "router.retry-budget must be a fraction from 0 to 1";
  if (!(launch_rate > 0) || !(host_launch_rate > 0))
    return "router.launch-rate and host.launch-rate must be above 0";
  if (breaker_failures < 1)
    return "router.breaker-failures must be at least 1";
  if (tenant_instances < 0 || unreserved_min < 0 ||
      (tenant_instances > 0 && unreserved_min >= tenant_instances))
    return "placement.unreserved-min must be below placement.tenant-instances (and neither "
           "negative)";
  if (tenant_rate < 0 || tenant_burst < 0 || tenant_concurrency < 0)
    return "admission limits cannot be negative";
  if (async_max_retries < 0 || async_max_retries > 2)
    return "async.max-retries must be 0, 1 or 2";
  if (async_concurrency < 1)
    return "async.concurrency must be at least 1";
  bool controller = has_role("controller");
  if (controller && !cluster_controller.empty())
    return "cluster.controller is for nodes without the controller role";
  if (!controller && cluster_controller.empty())
    return "a node without the controller role needs cluster.controller=host:port";
  bool host = has_role("host");
  if (!controller && !host && !has_role("gateway") && !cluster_listen.empty())
    return "cluster.listen is for the controller's node, hosts and gateways";
  if (gateway_connect_timeout <= caf::timespan{0} || gateway_idle_timeout <= caf::timespan{0})
    return "gateway.connect-timeout and gateway.idle-timeout must be above 0";
  if (gateway_tenant_connections < 1 || gateway_tenant_connections > 1'000'000)
    return "gateway.tenant-connections must be from 1 to 1000000";
  if (!controller && host && cluster_listen.empty())
    return "a host joining a cluster needs cluster.listen=address:port, where ingress nodes "
           "connect to it directly";
  if (!controller && (host || has_role("gateway")) && !cluster_listen.empty()) {
    std::string address, error;
    uint16_t port = 0;
    parse_endpoint(cluster_listen, address, port, error);
    if (address.empty() || address == "0.0.0.0" || address == "::" || address == "[::]")
      return "cluster.listen of a host or gateway is told to other nodes, which connect to it "
             "directly: name an address they reach, not '" +
             address + "'";
  }
  if (!net::log::parse_level(log_level))
    return "log.level '" + log_level + "' is not one of debug, info, warn, error";
  if (log_format != "json" && log_format != "text")
    return "log.format '" + log_format + "' is not one of json, text";
  if (!metrics_listen.empty()) {
    std::string address, error;
    uint16_t port = 0;
    if (!parse_endpoint(metrics_listen, address, port, error))
      return "metrics.listen: " + error;
  }
  if (!admin_listen.empty()) {
    std::string address, error;
    uint16_t port = 0;
    if (!controller)
      return "admin.listen is for the controller's node";
    if (!parse_endpoint(admin_listen, address, port, error))
      return "admin.listen: " + error;
    if (admin_token_file.empty())
      return "admin.listen needs admin.token-file: the console is refused without a token";
    if (read_admin_token(admin_token_file, error).empty())
      return error;
    if (!admin_plaintext && (openssl_certificate.empty() || openssl_key.empty() ||
                             (openssl_cafile.empty() && openssl_capath.empty())))
      return "the admin console needs TLS: set openssl.certificate, openssl.key and "
             "openssl.cafile, or admin.plaintext=true for development";
  }
  if (clustered() && !cluster_plaintext &&
      (openssl_certificate.empty() || openssl_key.empty() ||
       (openssl_cafile.empty() && openssl_capath.empty())))
    return "a cluster needs TLS: set openssl.certificate, openssl.key and openssl.cafile "
           "(deploy/make-certs.sh makes them), or cluster.plaintext=true for development";
  // CAF would start without them and fail every handshake later.
  if ((clustered() && !cluster_plaintext) || (!admin_listen.empty() && !admin_plaintext))
    for (const auto& [key, path] :
         {std::pair{"openssl.certificate", &openssl_certificate},
          std::pair{"openssl.key", &openssl_key}, std::pair{"openssl.cafile", &openssl_cafile}})
      if (!path->empty() && access(path->c_str(), R_OK) != 0)
        return std::string{key} + ": cannot read " + *path + " (" + std::strerror(errno) + ")";
  return {};
}

void node_config::resolve_paths(const std::string& self_exe_dir) {
  if (init_path.empty())
    init_path = self_exe_dir + "/troupe-sandbox-init";
  if (runtimes_dir.empty())
    runtimes_dir = self_exe_dir + "/runtimes";
}

std::string node_config::summary() const {
  std::ostringstream out;
  out << "roles=" << roles << " data-dir=" << data_dir << " ingress=" << ingress_host << ":"
      << ingress_port << " host.memory-mb=" << host_memory_mb << " pool-size=" << pool_size
      << " max-instances=" << max_instances << " max-queue=" << max_queue
      << " keep-alive=" << caf::deep_to_string(keep_alive) << " scheduler="
      << caf::deep_to_string(caf::get_or(content, "scheduler.policy", caf::atom("?")));
  return out.str();
}

std::string read_admin_token(const std::string& path, std::string& error) {
  std::ifstream in{path};
  if (!in) {
    error = "cannot read the admin token file " + path;
    return {};
  }
  std::string token{std::istreambuf_iterator<char>{in}, {}};
  auto first = token.find_first_not_of(" \t\r\n");
  auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
  if (token.size() < 16) {
    error = "the admin token in " + path + " is shorter than 16 characters";
    return {};
  }
  return token;
}

} // namespace troupe
