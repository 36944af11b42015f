#pragma once

#include "actors/protocol/messages.hpp"
#include "actors/protocol/packages.hpp"

#include <caf/typed_actor.hpp>

#include <vector>

namespace troupe {

/// The cluster's controller: the function registry, code registry and access
/// keys, durable in RocksDB. Functions are named by their id ("tenant/name",
/// net::function_id). Contract: `create` validates and stores the archive,
/// then the configuration, and answers only once both are on disk
/// (function_exists, invalid_parameter or storage_failed otherwise); `lookup`,
/// `remove`, `update` and `code` answer function_not_found for unknown ids;
/// `list` answers a tenant's functions in name order (all tenants' for "");
/// `update` replaces a function's configuration (not its code, name, tenant,
/// reservation or EventInvokeConfig) and `code` its package, each only if its
/// revision is still `expected revision` (revision_mismatch otherwise), and
/// answer the new configuration with a new revision id; `key` answers the
/// access key of an id (unknown_key if there is none); `key_put` stores a
/// new key (function_exists if its id is taken), `key_del` deletes one,
/// `keys` lists all, without their secrets. Versions: `lookup`
/// and `remove` take "id:N" for version N (a version an alias names is not
/// removed: function_exists); removing a function removes its versions and
/// aliases; `publish` copies $LATEST to the next version (or answers the last
/// one if nothing changed), `versions` lists $LATEST then each version.
/// Aliases: `alias` with a configuration creates (function_exists if taken)
/// or updates one, with a name reads one, `remove` with an alias name deletes
/// one, `aliases` lists them; all answer function_not_found for unknown
/// functions, aliases or versions. Function URLs: `url_put` creates
/// (function_exists if the function and qualifier have one) or updates one,
/// `url_get` reads one (or with only an id, all of a function's), `url_del`
/// deletes one, `url_find` finds one by its url id (function_not_found if
/// none); removing a function removes its URLs. `pkg_sources` answers where
/// a host (named, and left out) may read a package: the hosts that reported
/// holding it (`pkg_held`: every package a host holds, whole or in part,
/// which replaces what it reported before) and the origin; `reserve` sets a
/// function's reserved concurrency (-1: none), refused with invalid_parameter
/// when the tenant's reservations would leave less than its unreserved
/// minimum, and tells the scheduler, which holds it; `async_cfg` sets a
/// function's EventInvokeConfig (max retries, max event age in s; -1 clears
/// one, or with `merge` keeps it). `node` records that a node joined the
/// cluster (true) or its connection went (false); `nodes` lists them, the
/// controller's own node first. `egress` answers a tenant's egress rules
/// (none set: no rules), or without a tenant every tenant's that has some;
/// `egress_put` replaces a tenant's rules, each checked and normalized
/// (invalid_parameter naming a rule that means nothing), and answers once
/// every registered gateway has them (or 2 s passed), so they apply to the
/// next connection. `gateway_up` registers a gateway (replacing one of the
/// same name) and answers every tenant's rules; the controller monitors it
/// and pushes later changes as (egress, egress_config). `gateways` lists
/// the registered gateways, for hosts to spread connections over.
using controller_actor = caf::typed_actor<
    caf::replies_to<create_atom, function_config, std::string /*archive*/>::with<function_config>,
    caf::replies_to<lookup_atom, std::string>::with<function_config>,
    caf::replies_to<list_atom, std::string /*tenant*/>::with<std::vector<function_config>>,
    caf::replies_to<update_atom, function_config,
                    std::string /*expected revision*/>::with<function_config>,
    caf::replies_to<code_atom, std::string /*id*/, std::string /*archive*/,
                    std::string /*expected revision*/>::with<function_config>,
    caf::replies_to<key_atom, std::string /*access key id*/>::with<access_key>,
    caf::replies_to<key_put_atom, access_key>::with<access_key>,
    caf::replies_to<key_del_atom, std::string /*access key id*/>::with<access_key>,
    caf::replies_to<keys_atom>::with<std::vector<access_key>>,
    caf::replies_to<publish_atom, std::string /*id*/, std::string /*code sha256 hex or ""*/,
                    std::string /*description*/,
                    std::string /*expected revision or ""*/>::with<function_config>,
    caf::replies_to<versions_atom, std::string /*id*/>::with<std::vector<function_config>>,
    caf::replies_to<alias_atom, std::string /*id*/, alias_config,
                    bool /*create*/>::with<alias_config>,
    caf::replies_to<alias_atom, std::string /*id*/, std::string /*alias*/>::with<alias_config>,
    caf::replies_to<remove_atom, std::string /*id*/, std::string /*alias*/>::with<alias_config>,
    caf::replies_to<aliases_atom, std::string /*id*/>::with<std::vector<alias_config>>,
    caf::replies_to<url_put_atom, url_config, bool /*create*/>::with<url_config>,
    caf::replies_to<url_get_atom, std::string /*id*/, std::string /*qualifier*/>::with<url_config>,
    caf::replies_to<url_get_atom, std::string /*id*/>::with<std::vector<url_config>>,
    caf::replies_to<url_del_atom, std::string /*id*/, std::string /*qualifier*/>::with<url_config>,
    caf::replies_to<url_find_atom, std::string /*url id*/>::with<url_config>,
    caf::replies_to<remove_atom, std::string>::with<function_config>,
    caf::replies_to<pkg_sources_atom, std::string /*digest hex*/,
                    std::string /*asking host*/>::with<package_sources>,
    caf::reacts_to<pkg_held_atom, std::string /*host*/, package_actor,
                   std::vector<std::string> /*whole*/, std::vector<std::string> /*in part*/>,
    caf::replies_to<reserve_atom, std::string /*function*/, int32_t>::with<function_config>,
    caf::replies_to<async_cfg_atom, std::string /*function*/, int32_t, int32_t,
                    bool /*merge*/>::with<function_config>,
    caf::reacts_to<node_atom, std::string /*name*/, bool /*up*/>,
    caf::replies_to<nodes_atom>::with<std::vector<node_status>>,
    caf::replies_to<egress_atom, std::string /*tenant*/>::with<egress_config>,
    caf::replies_to<egress_atom>::with<std::vector<egress_config>>,
    caf::replies_to<egress_put_atom, egress_config>::with<egress_config>,
    caf::replies_to<gateway_up_atom, gateway_entry>::with<std::vector<egress_config>>,
    caf::replies_to<gateways_atom>::with<std::vector<gateway_entry>>>;

} // namespace troupe
