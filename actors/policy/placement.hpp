#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace troupe::policy {

/// The scheduler's view of one host when it places an instance.
struct host_view {
  std::string id;
  int32_t free_slots = 0;         ///< 128 MB units not reserved
  int32_t function_instances = 0; ///< instances of the function being placed
  std::string zone;               ///< its zone label
  bool has_code = false;          ///< holds the function's code package already
  int32_t launching = 0;          ///< instances being started on it now (any function)
  /// Tenants with instances on it (launching ones too); only the placement of
  /// a dedicated tenant looks at them, and the scheduler fills them only then.
  std::set<std::string> tenants{};
  std::string dedicated_to{}; ///< the dedicated tenant it runs, which has it alone ("": none)
};

/// Whose instance is placed, and how that tenant shares hosts: `shared`
/// tenants mix on a host (the dense mode); a `dedicated` tenant's instances
/// run on hosts that run nothing of anyone else's.
struct tenancy {
  std::string tenant = "default";
  bool dedicated = false;
};

/// Whether `h` may take an instance of `t`: a host a dedicated tenant holds
/// takes only that tenant; a dedicated tenant takes only hosts holding nothing
/// of another tenant.
bool admits(const host_view& h, const tenancy& t);

/// The unit hosts sell memory in.
constexpr int32_t slot_mb = 128;

/// Slots (128 MB units) an instance of `memory_mb` takes.
inline int32_t slots_for(int32_t memory_mb) {
  return (memory_mb + slot_mb - 1) / slot_mb;
}

/// The host to place on, or nullopt when none that admits the tenant has
/// `slots` free. Among those, in this order of precedence: the zone holding
/// the fewest of the function's instances, then the host holding the fewest
/// (both spread a function so that losing a host or a zone loses the least of
/// it), then, for a dedicated tenant, a host it holds already (each host it
/// takes is closed to everyone else), then the host starting the fewest
/// instances now (a burst of cold starts shares out over the hosts' CPUs),
/// then a host that has the function's code (no fetch), then the fewest free
/// slots (bin-packing keeps whole hosts free for large instances), then the
/// lowest id.
std::optional<std::size_t> choose_host(const std::vector<host_view>& hosts, int32_t slots,
                                       const tenancy& t = {});

} // namespace troupe::policy
