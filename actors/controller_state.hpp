#pragma once
// The controller actor's state and the helpers its two source files share:
// controller.cpp (functions, code, access keys) and controller_versions.cpp
// (published versions and aliases). Not for other actors.

#include "actors/controller.hpp"

#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::storage {
class kv_store;
class package_store;
} // namespace troupe::storage

namespace troupe::controller_detail {

struct controller_state {
  storage::kv_store* store = nullptr;
  storage::package_store* packages = nullptr; ///< the origin copy of every package
  /// Which hosts hold which packages (true: whole), as they last reported,
  /// by package and host; kept in the registry too ("ph/<package>/<host>").
  std::map<std::string, std::map<std::string, bool>> held;
  std::map<std::string, package_actor> holders; ///< each reporting host's package agent
  controller_settings cfg;
  scheduler_actor scheduler;
  std::map<std::string, node_status> nodes; ///< the other nodes, by name (from the door)
  std::map<std::string, gateway_entry> gateways; ///< the registered gateways, by name
  int64_t started_ms = 0;
  static inline const char* name = "troupe.controller";
};

using controller_ptr = controller_actor::stateful_pointer<controller_state>;

std::string random_revision();

/// A function id with an optional ":qualifier" (a version number or
/// "$LATEST"), split into the two.
inline std::pair<std::string, std::string> split_qualified(std::string_view qualified) {
  auto colon = qualified.find(':');
  if (colon == std::string_view::npos)
    return {std::string{qualified}, {}};
  return {std::string{qualified.substr(0, colon)}, std::string{qualified.substr(colon + 1)}};
}

/// $LATEST of a function, or function_not_found.
caf::expected<function_config> read_function(controller_ptr self, const std::string& id);
caf::error write_function(controller_ptr self, const function_config& cfg);

/// A published version of a function, with the function's current
/// reservation and EventInvokeConfig (those belong to the function, not to
/// one version); function_not_found if there is no such version.
caf::expected<function_config> read_version(controller_ptr self, const function_config& latest,
                                            const std::string& number);

/// PublishVersion: a copy of $LATEST as the next version (or the last one,
/// when nothing changed since). `code_sha256` and `revision`, when not "",
/// must match $LATEST's (hex digest, revision id).
caf::result<function_config> publish(controller_ptr self, const std::string& id,
                                     const std::string& code_sha256, const std::string& description,
                                     const std::string& revision);

/// $LATEST and every published version, oldest first.
caf::result<std::vector<function_config>> versions(controller_ptr self, const std::string& id);

/// DeleteFunction with a version qualifier (refused while an alias points at it).
caf::result<function_config> remove_version(controller_ptr self, const std::string& id,
                                            const std::string& number);

/// The registry keys of every version and alias of a function.
std::vector<std::string> version_and_alias_keys(controller_ptr self, const std::string& id);

/// CreateAlias (`create`) and UpdateAlias (whose `next.revision_id`, when not
/// "", must be the alias's current one).
caf::result<alias_config> put_alias(controller_ptr self, const std::string& id, alias_config next,
                                    bool create);
caf::result<alias_config> get_alias(controller_ptr self, const std::string& id,
                                    const std::string& alias);
caf::result<alias_config> remove_alias(controller_ptr self, const std::string& id,
                                       const std::string& alias);
caf::result<std::vector<alias_config>> aliases(controller_ptr self, const std::string& id);

/// CreateFunctionUrlConfig (`create`) and UpdateFunctionUrlConfig (which
/// changes AuthType and Cors when `next` has them); the qualifier is ""
/// ($LATEST) or an alias.
caf::result<url_config> put_url(controller_ptr self, url_config next, bool create);
caf::result<url_config> get_url(controller_ptr self, const std::string& id,
                                const std::string& qualifier);
caf::result<std::vector<url_config>> list_urls(controller_ptr self, const std::string& id);
caf::result<url_config> remove_url(controller_ptr self, const std::string& id,
                                   const std::string& qualifier);
caf::result<url_config> find_url(controller_ptr self, const std::string& url_id);
/// The registry keys of the URL of a function's alias `qualifier`, or (with
/// "") of all the function's URLs.
std::vector<std::string> url_keys(controller_ptr self, const std::string& id,
                                  const std::string& qualifier);

} // namespace troupe::controller_detail
