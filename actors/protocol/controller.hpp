#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

#include <vector>

namespace troupe {

/// The cluster's controller: the function registry and code registry, durable
/// in RocksDB. Contract: `create` validates and stores the archive, then the
/// configuration, and answers only once both are on disk (function_exists,
/// invalid_parameter or storage_failed otherwise); `lookup` and `remove` answer
/// function_not_found for unknown names; `fetch` answers a stored package's
/// archive by its SHA-256 (hex), for hosts that lack it; `reserve` sets a
/// function's reserved concurrency (-1: none), refused with invalid_parameter
/// when the tenant's reservations would leave less than its unreserved
/// minimum, and tells the scheduler, which holds it; `async_cfg` sets a
/// function's EventInvokeConfig (max retries, max event age in s; -1 clears
/// one, or with `merge` keeps it).
using controller_actor = caf::typed_actor<
    caf::replies_to<create_atom, function_config, std::string /*archive*/>::with<function_config>,
    caf::replies_to<lookup_atom, std::string>::with<function_config>,
    caf::replies_to<list_atom>::with<std::vector<function_config>>,
    caf::replies_to<remove_atom, std::string>::with<function_config>,
    caf::replies_to<fetch_atom, std::string /*sha256 hex*/>::with<std::string>,
    caf::replies_to<reserve_atom, std::string /*function*/, int32_t>::with<function_config>,
    caf::replies_to<async_cfg_atom, std::string /*function*/, int32_t, int32_t,
                    bool /*merge*/>::with<function_config>>;

} // namespace troupe
