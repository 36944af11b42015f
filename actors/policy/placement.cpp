#include "actors/policy/placement.hpp"

#include <tuple>

namespace troupe::policy {

std::optional<std::size_t> choose_host(const std::vector<host_view>& hosts, int32_t slots) {
  std::optional<std::size_t> best;
  auto key = [&](std::size_t i) {
    const auto& h = hosts[i];
    return std::make_tuple(h.function_instances, h.free_slots, h.id);
  };
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].free_slots < slots)
      continue;
    if (!best || key(i) < key(*best))
      best = i;
  }
  return best;
}

} // namespace troupe::policy
