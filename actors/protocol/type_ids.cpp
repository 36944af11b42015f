#include "actors/protocol/type_ids.hpp"

#include "actors/protocol/admin.hpp"
#include "actors/protocol/cluster.hpp"
#include "actors/protocol/controller.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/protocol/event_queue.hpp"
#include "actors/protocol/host.hpp"
#include "actors/protocol/ingress.hpp"
#include "actors/protocol/pool.hpp"
#include "actors/protocol/scheduler.hpp"

#include <caf/actor_system_config.hpp>

namespace troupe {

void register_troupe_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<admin_request>("troupe::admin_request");
  cfg.add_message_type<admin_reply>("troupe::admin_reply");
  cfg.add_message_type<function_config>("troupe::function_config");
  cfg.add_message_type<std::vector<function_config>>("std::vector<troupe::function_config>");
  cfg.add_message_type<invocation>("troupe::invocation");
  cfg.add_message_type<access_key>("troupe::access_key");
  cfg.add_message_type<egress_config>("troupe::egress_config");
  cfg.add_message_type<std::vector<egress_config>>("std::vector<troupe::egress_config>");
  cfg.add_message_type<std::vector<access_key>>("std::vector<troupe::access_key>");
  cfg.add_message_type<gateway_entry>("troupe::gateway_entry");
  cfg.add_message_type<std::vector<gateway_entry>>("std::vector<troupe::gateway_entry>");
  cfg.add_message_type<alias_config>("troupe::alias_config");
  cfg.add_message_type<url_config>("troupe::url_config");
  cfg.add_message_type<std::vector<url_config>>("std::vector<troupe::url_config>");
  cfg.add_message_type<std::vector<alias_config>>("std::vector<troupe::alias_config>");
  cfg.add_message_type<invocation_result>("troupe::invocation_result");
  cfg.add_message_type<placement>("troupe::placement");
  cfg.add_message_type<pool_stats>("troupe::pool_stats");
  cfg.add_message_type<host_info>("troupe::host_info");
  cfg.add_message_type<host_status>("troupe::host_status");
  cfg.add_message_type<std::vector<host_status>>("std::vector<troupe::host_status>");
  cfg.add_message_type<std::vector<host_log>>("std::vector<troupe::host_log>");
  cfg.add_message_type<instance_status>("troupe::instance_status");
  cfg.add_message_type<node_status>("troupe::node_status");
  cfg.add_message_type<std::vector<node_status>>("std::vector<troupe::node_status>");
  cfg.add_message_type<std::vector<instance_status>>("std::vector<troupe::instance_status>");
  cfg.add_message_type<router_stats>("troupe::router_stats");
  cfg.add_message_type<breaker_status>("troupe::breaker_status");
  cfg.add_message_type<std::vector<breaker_status>>("std::vector<troupe::breaker_status>");
  cfg.add_message_type<async_event>("troupe::async_event");
  cfg.add_message_type<std::vector<async_event>>("std::vector<troupe::async_event>");
  cfg.add_message_type<event_queue_stats>("troupe::event_queue_stats");
  cfg.add_message_type<instance_actor>("troupe::instance_actor");
  cfg.add_message_type<router_actor>("troupe::router_actor");
  cfg.add_message_type<host_actor>("troupe::host_actor");
  cfg.add_message_type<scheduler_actor>("troupe::scheduler_actor");
  cfg.add_message_type<controller_actor>("troupe::controller_actor");
  cfg.add_message_type<cluster_actor>("troupe::cluster_actor");
  cfg.add_message_type<package_actor>("troupe::package_actor");
  cfg.add_message_type<std::vector<package_actor>>("std::vector<troupe::package_actor>");
  cfg.add_message_type<package_sources>("troupe::package_sources");
  cfg.add_error_category(caf::atom("troupe"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string out = "troupe::";
                           out += to_string(static_cast<errc>(code));
                           if (ctx.size() == 1 && ctx.match_element<std::string>(0))
                             out += ": " + ctx.get_as<std::string>(0);
                           return out;
                         });
}

} // namespace troupe
