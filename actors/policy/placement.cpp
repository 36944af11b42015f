#include "actors/policy/placement.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

namespace troupe::policy {

bool admits(const host_view& h, const tenancy& t) {
  if (!h.dedicated_to.empty())
    return h.dedicated_to == t.tenant;
  if (!t.dedicated)
    return true;
  return std::all_of(h.tenants.begin(), h.tenants.end(),
                     [&](const std::string& other) { return other == t.tenant; });
}

std::optional<std::size_t> choose_host(const std::vector<host_view>& hosts, int32_t slots,
                                       const tenancy& t) {
  std::map<std::string, int32_t> in_zone; // the function's instances per zone
  for (const auto& h : hosts)
    in_zone[h.zone] += h.function_instances;
  std::optional<std::size_t> best;
  auto key = [&](std::size_t i) {
    const auto& h = hosts[i];
    bool fresh_for_dedicated = t.dedicated && h.tenants.count(t.tenant) == 0;
    return std::make_tuple(in_zone[h.zone], h.function_instances, fresh_for_dedicated, h.launching,
                           !h.has_code, h.free_slots, std::cref(h.id));
  };
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].free_slots < slots || !admits(hosts[i], t))
      continue;
    if (!best || key(i) < key(*best))
      best = i;
  }
  return best;
}

} // namespace troupe::policy
