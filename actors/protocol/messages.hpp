#pragma once

#include "net/function_config.hpp"
#include "net/http_types.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace troupe::runtime {
class sandbox;
struct sandbox_options;
struct sandbox_spec;
} // namespace troupe::runtime
namespace troupe::net {
class io_runtime;
}

namespace troupe::net {

/// Found by ADL: function_config lives in net/, which knows nothing of CAF.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, function_config& x) {
  return f(caf::meta::type_name("function_config"), x.name, x.runtime, x.handler, x.description,
           x.memory_mb, x.timeout_s, x.environment, x.code_sha256, x.code_size, x.last_modified_ms,
           x.revision_id, x.tenant, x.reserved_concurrency, x.async_max_retries, x.async_max_age_s,
           x.version, x.last_version, x.package);
}

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, url_config& x) {
  return f(caf::meta::type_name("url_config"), x.url_id, x.tenant, x.function, x.qualifier,
           x.auth_type, x.cors, x.created_ms, x.modified_ms);
}

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, alias_config& x) {
  return f(caf::meta::type_name("alias_config"), x.name, x.function_version, x.description,
           x.additional_version, x.additional_weight, x.revision_id);
}

} // namespace troupe::net

namespace troupe {

using net::alias_config;
using net::function_config;
using net::url_config;

// Atoms (at most 10 characters; see shared/CAF-0.17.md section 1).
using invoke_atom = caf::atom_constant<caf::atom("invoke")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using place_atom = caf::atom_constant<caf::atom("place")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using host_up_atom = caf::atom_constant<caf::atom("host_up")>;
using state_atom = caf::atom_constant<caf::atom("state")>;
using launch_atom = caf::atom_constant<caf::atom("launch")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using refill_atom = caf::atom_constant<caf::atom("refill")>;
using http_atom = caf::atom_constant<caf::atom("http")>;
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using rt_resp_atom = caf::atom_constant<caf::atom("rt_resp")>;
using rt_error_atom = caf::atom_constant<caf::atom("rt_error")>;
using rt_init_atom = caf::atom_constant<caf::atom("rt_init")>;
using rt_exit_atom = caf::atom_constant<caf::atom("rt_exit")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using make_atom = caf::atom_constant<caf::atom("make")>;
using claim_atom = caf::atom_constant<caf::atom("claim")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using hosts_atom = caf::atom_constant<caf::atom("hosts")>;
using logs_atom = caf::atom_constant<caf::atom("logs")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using orphan_atom = caf::atom_constant<caf::atom("orphan")>;
using connect_to_atom = caf::atom_constant<caf::atom("connect_to")>;
using endpoint_atom = caf::atom_constant<caf::atom("endpoint")>;
using enqueue_atom = caf::atom_constant<caf::atom("enqueue")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using dead_atom = caf::atom_constant<caf::atom("dead")>;
using redrive_atom = caf::atom_constant<caf::atom("redrive")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using reserve_atom = caf::atom_constant<caf::atom("reserve")>;
using outcome_atom = caf::atom_constant<caf::atom("outcome")>;
using async_cfg_atom = caf::atom_constant<caf::atom("async_cfg")>;
using key_atom = caf::atom_constant<caf::atom("key")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using code_atom = caf::atom_constant<caf::atom("code")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using versions_atom = caf::atom_constant<caf::atom("versions")>;
using alias_atom = caf::atom_constant<caf::atom("alias")>;
using aliases_atom = caf::atom_constant<caf::atom("aliases")>;
using url_put_atom = caf::atom_constant<caf::atom("url_put")>;
using url_get_atom = caf::atom_constant<caf::atom("url_get")>;
using url_del_atom = caf::atom_constant<caf::atom("url_del")>;
using url_find_atom = caf::atom_constant<caf::atom("url_find")>;
using key_put_atom = caf::atom_constant<caf::atom("key_put")>;
using key_del_atom = caf::atom_constant<caf::atom("key_del")>;
using keys_atom = caf::atom_constant<caf::atom("keys")>;
using instances_atom = caf::atom_constant<caf::atom("instances")>;
using node_atom = caf::atom_constant<caf::atom("node")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using pkg_index_atom = caf::atom_constant<caf::atom("pkg_index")>;
using pkg_read_atom = caf::atom_constant<caf::atom("pkg_read")>;
using pkg_sources_atom = caf::atom_constant<caf::atom("pkg_srcs")>;
using pkg_held_atom = caf::atom_constant<caf::atom("pkg_held")>;
using prepare_atom = caf::atom_constant<caf::atom("prepare")>;
using egress_atom = caf::atom_constant<caf::atom("egress")>;
using egress_put_atom = caf::atom_constant<caf::atom("egress_put")>;
using gateway_up_atom = caf::atom_constant<caf::atom("gateway_up")>;
using gateways_atom = caf::atom_constant<caf::atom("gateways")>;
using gw_pick_atom = caf::atom_constant<caf::atom("gw_pick")>;

/// An access key: what signs a tenant's requests (AWS Signature Version 4).
struct access_key {
  std::string id;     ///< the access key id, e.g. AKIA...
  std::string secret; ///< the secret access key (SigV4 is symmetric: kept as given)
  std::string tenant;
  bool operator_access = false; ///< may also use Troupe's /troupe/ operator routes
  int64_t created_ms = 0;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, access_key& x) {
  return f(caf::meta::type_name("access_key"), x.id, x.secret, x.tenant, x.operator_access,
           x.created_ms);
}

/// A tenant's egress rules: the destinations its functions may connect to
/// (policy::egress_rule texts, normalized); none: every connection is refused.
struct egress_config {
  std::string tenant;
  std::vector<std::string> rules;
  int64_t updated_ms = 0; ///< 0: never set
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, egress_config& x) {
  return f(caf::meta::type_name("egress_config"), x.tenant, x.rules, x.updated_ms);
}

/// A vpc_gateway as it registered with the controller: its name, where its
/// node takes direct connections ("": none, messages go by the controller's
/// node), and the actor (a gateway_actor, see actors/egress.hpp).
struct gateway_entry {
  std::string id;
  std::string endpoint;
  caf::actor gateway;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, gateway_entry& x) {
  return f(caf::meta::type_name("gateway_entry"), x.id, x.endpoint, x.gateway);
}

/// One synchronous invocation on its way to an instance. Never stored (an
/// async_event is), so a field added here changes no stored format.
struct invocation {
  std::string request_id;
  std::string payload;     ///< the event JSON
  int64_t deadline_ms = 0; ///< Unix epoch ms by which the whole request must be answered
  /// The caller's X-Amz-Client-Context, decoded (JSON; "" without one): the
  /// runtime gets it as Lambda-Runtime-Client-Context (synchronous invokes only).
  std::string client_context{};
  bool want_log_tail = false; ///< LogType Tail: the result carries its log's tail
  std::string trace_id{};     ///< the caller's X-Amzn-Trace-Id ("": none)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, invocation& x) {
  return f(caf::meta::type_name("invocation"), x.request_id, x.payload, x.deadline_ms,
           x.client_context, x.want_log_tail, x.trace_id);
}

/// How one invocation went, for its record in the node's log and the metrics:
/// the instance fills in its part, the router the rest.
struct invocation_stats {
  std::string host;              ///< the id of the host that ran it
  std::string instance;          ///< the instance's id
  double wait_ms = 0;            ///< from the router's queue to the instance taking it
  double init_ms = -1;           ///< a cold start's init duration; < 0: a warm start
  double run_ms = 0;             ///< the runtime's Duration
  int32_t memory_mb = 0;         ///< the function's MemorySize (what is billed)
  uint64_t max_memory_bytes = 0; ///< the most its sandbox used so far
  std::string status;            ///< "" (the runtime answered), "timeout" or "error"
  std::string error_type;        ///< with "error": Runtime.ExitError, Runtime.OutOfMemory, ...
  int32_t attempts = 0;          ///< instances the router tried it on
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invocation_stats& x) {
  return f(caf::meta::type_name("invocation_stats"), x.host, x.instance, x.wait_ms, x.init_ms,
           x.run_ms, x.memory_mb, x.max_memory_bytes, x.status, x.error_type, x.attempts);
}

/// The function's answer. `function_error` marks Lambda's "Unhandled" errors
/// (the function's own failure, a timeout, a crash): HTTP 200 with
/// X-Amz-Function-Error. Platform failures travel as caf::error instead.
struct invocation_result {
  bool function_error = false;
  std::string payload;
  bool cold_start = false;
  std::string version = "$LATEST"; ///< of the function, that ran it
  std::string log_tail{};          ///< the last 4 KB of its log, when the invocation asked
  invocation_stats stats{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invocation_result& x) {
  return f(caf::meta::type_name("invocation_result"), x.function_error, x.payload, x.cold_start,
           x.version, x.log_tail, x.stats);
}

/// An asynchronous (Event) invocation, queued durably until it is delivered
/// or given up: then it is a dead letter, with the reason.
struct async_event {
  std::string id; ///< the request id the caller got with its 202
  std::string function;
  std::string payload;
  int64_t enqueued_ms = 0;            ///< when it was accepted (its age counts from here)
  int32_t attempts = 0;               ///< deliveries tried so far
  int32_t function_error_retries = 0; ///< of those, retries after the function's own error
  int64_t next_ms = 0;                ///< when it is due next
  std::string last_error;             ///< what the last attempt ended with
  std::string dead_reason;            ///< why it was given up ("": still queued)
  int64_t dead_ms = 0;                ///< when it was given up
  /// Its function's EventInvokeConfig when it was queued (-1: the queue's settings).
  int32_t max_retries = -1;
  int64_t max_age_ms = -1;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, async_event& x) {
  return f(caf::meta::type_name("async_event"), x.id, x.function, x.payload, x.enqueued_ms,
           x.attempts, x.function_error_retries, x.next_ms, x.last_error, x.dead_reason, x.dead_ms,
           x.max_retries, x.max_age_ms);
}

/// What an event queue holds and has done since it started.
struct event_queue_stats {
  int64_t queued = 0;    ///< events waiting or on their way
  int64_t in_flight = 0; ///< deliveries under way
  int64_t delivered = 0; ///< events the function took without an error
  int64_t retried = 0;   ///< attempts after a failed one
  int64_t dead = 0;      ///< events given up (dead letters made)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_queue_stats& x) {
  return f(caf::meta::type_name("event_queue_stats"), x.queued, x.in_flight, x.delivered, x.retried,
           x.dead);
}

/// One breaker of a router: its calls to one host.
struct breaker_status {
  std::string host;
  std::string state;  ///< closed, open, half_open
  std::string reason; ///< why it last opened ("": never)
  int64_t times_opened = 0;
  int64_t rejected = 0; ///< calls it kept from the host
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breaker_status& x) {
  return f(caf::meta::type_name("breaker_status"), x.host, x.state, x.reason, x.times_opened,
           x.rejected);
}

/// What one function's router has done since it started, and holds now.
struct router_stats {
  std::string function;
  int64_t requests = 0;        ///< invocations taken (first attempts)
  int64_t refused = 0;         ///< invocations refused: its wait queue was full
  int64_t attempts = 0;        ///< invocations sent to instances, and launches made for them
  int64_t retries = 0;         ///< attempts after a failed one
  int64_t retries_refused = 0; ///< retries the budget or the deadline did not allow
  int64_t launch_failures = 0;
  int32_t instances = 0;
  int32_t queued = 0;
  std::vector<breaker_status> breakers;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("router_stats"), x.function, x.requests, x.refused, x.attempts,
           x.retries, x.retries_refused, x.launch_failures, x.instances, x.queued, x.breakers);
}

/// Where the scheduler put a new instance (also how a host reports one it runs).
struct placement {
  std::string instance_id;
  std::string function;
  std::string host_id;
  std::string state; ///< placed, starting, ready, draining, lost
  int64_t updated_ms = 0;
  int32_t slots = 0;         ///< 128 MB units reserved for it
  std::string host_endpoint; ///< host:port where its host takes direct connections ("": none)
  std::string tenant;        ///< the function's tenant
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, placement& x) {
  return f(caf::meta::type_name("placement"), x.instance_id, x.function, x.host_id, x.state,
           x.updated_ms, x.slots, x.host_endpoint, x.tenant);
}

/// A host as it registers with the scheduler.
struct host_info {
  std::string id;
  std::string zone;
  int32_t slots = 0;      ///< 128 MB units it sells
  int32_t free_slots = 0; ///< of those, not taken by instances it runs now
  int32_t cpus = 0;
  std::vector<std::string> packages; ///< code packages it holds (SHA-256 hex)
  bool draining = false;             ///< takes no placements
  /// host:port where it takes direct connections from ingress nodes, so that
  /// warm invocations do not pass through (and depend on) the controller's node.
  std::string endpoint;
  std::vector<placement> running; ///< the instances it runs, for reconciliation
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, host_info& x) {
  return f(caf::meta::type_name("host_info"), x.id, x.zone, x.slots, x.free_slots, x.cpus,
           x.packages, x.draining, x.endpoint, x.running);
}

/// A registered host as the scheduler sees it now.
struct host_status {
  host_info info;
  int32_t instances = 0;
  std::string breaker;        ///< the scheduler's breaker of its launches: closed, open, half_open
  std::string breaker_reason; ///< why it last opened ("": never)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, host_status& x) {
  return f(caf::meta::type_name("host_status"), x.info, x.instances, x.breaker, x.breaker_reason);
}

/// A node of the cluster as the controller's node sees it.
struct node_status {
  std::string name;     ///< a host's id, "ingress host:port", or "controller"
  std::string state;    ///< up, down
  int64_t since_ms = 0; ///< wall clock, when it joined or went
  int32_t joins = 0;    ///< how often it joined (more than once: it reconnected)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("node_status"), x.name, x.state, x.since_ms, x.joins);
}

/// One instance as its host sees it now.
struct instance_status {
  std::string instance_id;
  std::string function; ///< its id, "tenant/name"
  std::string host;
  std::string state;       ///< starting, idle, busy, draining
  int64_t started_ms = 0;  ///< wall clock, when its host began starting it
  int64_t invocations = 0; ///< answered so far
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, instance_status& x) {
  return f(caf::meta::type_name("instance_status"), x.instance_id, x.function, x.host, x.state,
           x.started_ms, x.invocations);
}

/// The latest of one function's invocation logs on one host.
struct host_log {
  std::string host;
  std::string log; ///< whole lines, oldest first ("" if the host has none)
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, host_log& x) {
  return f(caf::meta::type_name("host_log"), x.host, x.log);
}

/// A prepared sandbox handed from a pool to its host: process-local only.
struct sandbox_lease {
  std::shared_ptr<runtime::sandbox> box;
};

/// What a pool has done so far.
struct pool_stats {
  int64_t stock = 0;     ///< templates ready now
  int64_t made = 0;      ///< templates that passed their health check
  int64_t discarded = 0; ///< failed their health check, or died in stock
  int64_t hits = 0;      ///< acquires served from stock
  int64_t misses = 0;    ///< acquires that had to wait for a template
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("pool_stats"), x.stock, x.made, x.discarded, x.hits, x.misses);
}

/// The I/O threads of this node, for actors that own sockets: process-local only.
struct io_handle {
  net::io_runtime* io = nullptr;
};

/// An HTTP request and its responder on their way to the ingress actor: process-local only.
struct http_exchange {
  net::http_request request;
  net::http_responder respond;
};

} // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::sandbox_lease)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::sandbox_options)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::sandbox_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::io_handle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::http_exchange)
