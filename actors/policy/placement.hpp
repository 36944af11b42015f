#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace troupe::policy {

/// The scheduler's view of one host when it places an instance.
struct host_view {
  std::string id;
  int32_t free_slots = 0;         ///< 128 MB units not reserved
  int32_t function_instances = 0; ///< instances of the function being placed
};

/// The unit hosts sell memory in.
constexpr int32_t slot_mb = 128;

/// Slots (128 MB units) an instance of `memory_mb` takes.
inline int32_t slots_for(int32_t memory_mb) {
  return (memory_mb + slot_mb - 1) / slot_mb;
}

/// The host to place on, or nullopt when none has `slots` free. Prefers the
/// host with the fewest instances of this function (spreading), then the one
/// with the fewest free slots that still fit (bin-packing), then the lowest id.
std::optional<std::size_t> choose_host(const std::vector<host_view>& hosts, int32_t slots);

} // namespace troupe::policy
