#include "actors/policy/placement.hpp"

#include <functional>
#include <map>
#include <tuple>

namespace troupe::policy {

std::optional<std::size_t> choose_host(const std::vector<host_view>& hosts, int32_t slots) {
  std::map<std::string, int32_t> in_zone; // the function's instances per zone
  for (const auto& h : hosts)
    in_zone[h.zone] += h.function_instances;
  std::optional<std::size_t> best;
  auto key = [&](std::size_t i) {
    const auto& h = hosts[i];
    return std::make_tuple(in_zone[h.zone], h.function_instances, h.launching, !h.has_code,
                           h.free_slots, std::cref(h.id));
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
