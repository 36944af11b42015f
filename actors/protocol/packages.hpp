#pragma once

#include "actors/protocol/messages.hpp"

#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace troupe {

/// The most content bytes one `pkg_read` answer carries: a larger range is
/// read in several requests, each for where the last answer ended, so no
/// message grows with the package and the reader paces the transfer.
constexpr uint32_t max_package_read = 256 * 1024;

/// A node's code packages as other nodes read them (the controller's node
/// holds the origin copy, each host a cache). Contract: `pkg_index` answers
/// a package's encoded index (storage::encode_index), function_not_found if
/// this node does not hold it; `pkg_read` answers content bytes
/// [offset, offset + min(length, max_package_read)) when every chunk under
/// them is held here, function_not_found when it is not (a cache still
/// filling), invalid_parameter for a range outside the package.
using package_actor =
    caf::typed_actor<caf::replies_to<pkg_index_atom, std::string /*digest hex*/>::with<std::string>,
                     caf::replies_to<pkg_read_atom, std::string /*digest hex*/, uint64_t /*offset*/,
                                     uint32_t /*length*/>::with<std::string>>;

/// Where a package may be read from, best first: hosts holding all of it,
/// then hosts holding part, and the origin last.
struct package_sources {
  std::vector<package_actor> peers;
  std::vector<std::string> peer_ids; ///< host ids, as `peers`
  package_actor origin;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, package_sources& x) {
  return f(caf::meta::type_name("package_sources"), x.peers, x.peer_ids, x.origin);
}

} // namespace troupe
