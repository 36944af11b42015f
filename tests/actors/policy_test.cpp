#include "actors/policy/admission.hpp"
#include "actors/policy/placement.hpp"
#include "actors/policy/scaling.hpp"

#include <gtest/gtest.h>

using namespace troupe::policy;

TEST(ScalingPolicy, LaunchesOnePerUncoveredRequest) {
  EXPECT_EQ(launches_needed({3, 0, 0, 0}, 10), 3);
  EXPECT_EQ(launches_needed({3, 1, 0, 1}, 10), 1); // one idle, one starting cover two
  EXPECT_EQ(launches_needed({0, 0, 5, 0}, 10), 0);
}

TEST(ScalingPolicy, NeverExceedsTheInstanceCap) {
  EXPECT_EQ(launches_needed({10, 0, 3, 1}, 5), 1);
  EXPECT_EQ(launches_needed({10, 0, 5, 0}, 5), 0);
  EXPECT_EQ(launches_needed({10, 0, 6, 0}, 5), 0); // over the cap already: none, not negative
}

TEST(ScalingPolicy, KeepAliveAndWaitExpiry) {
  EXPECT_FALSE(keep_alive_expired(1000, 1999, 1000));
  EXPECT_TRUE(keep_alive_expired(1000, 2000, 1000));
  EXPECT_FALSE(wait_expired(0, 5000, 100, 1000));
  EXPECT_TRUE(wait_expired(0, 5000, 1000, 1000)); // waited max-wait
  EXPECT_TRUE(wait_expired(0, 500, 500, 1000));   // own deadline passed
}

TEST(PlacementPolicy, SlotsAre128MbUnits) {
  EXPECT_EQ(slots_for(128), 1);
  EXPECT_EQ(slots_for(129), 2);
  EXPECT_EQ(slots_for(10240), 80);
}

TEST(PlacementPolicy, RefusesWhenNothingFits) {
  EXPECT_FALSE(choose_host({}, 1));
  EXPECT_FALSE(choose_host({{"a", 1, 0, "z", false}, {"b", 0, 0, "z", false}}, 2));
}

TEST(PlacementPolicy, SpreadsAFunctionThenPacks) {
  std::vector<host_view> hosts{
      {"a", 10, 2, "z", false}, {"b", 50, 0, "z", false}, {"c", 20, 0, "z", false}};
  EXPECT_EQ(choose_host(hosts, 1), 2u); // fewest of this function, then tightest fit
  hosts[2].function_instances = 1;
  EXPECT_EQ(choose_host(hosts, 1), 1u);
  EXPECT_EQ(choose_host(hosts, 30), 1u); // only b fits
}

TEST(PlacementPolicy, TiesBreakByName) {
  EXPECT_EQ(choose_host({{"b", 5, 0, "z", false}, {"a", 5, 0, "z", false}}, 1), 1u);
}

TEST(PlacementPolicy, SpreadsAFunctionOverZonesFirst) {
  // Zone a holds two of the function's instances (one per host), zone b one:
  // the next goes to zone b even onto the host that already has one there.
  std::vector<host_view> hosts{{"a1", 10, 1, "a", false},
                               {"a2", 10, 1, "a", false},
                               {"b1", 10, 1, "b", false},
                               {"a3", 10, 0, "a", false}};
  EXPECT_EQ(choose_host(hosts, 1), 2u);
  hosts[3].zone = "b"; // zones a and b both hold two: the host with none of it
  hosts[2].function_instances = 2;
  EXPECT_EQ(choose_host(hosts, 1), 3u);
  hosts[2].function_instances = 3; // zone b holds three: back to zone a, by name
  EXPECT_EQ(choose_host(hosts, 1), 0u);
}

TEST(PlacementPolicy, PrefersHostsWithTheCodeOverTighterPacking) {
  std::vector<host_view> hosts{{"a", 5, 0, "z", false}, {"b", 50, 0, "z", true}};
  EXPECT_EQ(choose_host(hosts, 1), 1u);
  hosts[1].has_code = false;
  EXPECT_EQ(choose_host(hosts, 1), 0u); // no one has it: the tighter fit
  hosts[1].function_instances = 1;
  hosts[1].has_code = true;
  EXPECT_EQ(choose_host(hosts, 1), 0u); // spreading comes before the code
}

TEST(PlacementPolicy, ABurstSharesOutOverTheHostsStartingFewest) {
  // No host has the function: a, the tighter fit, unless it is busier starting others.
  std::vector<host_view> hosts{{"a", 5, 0, "z", false, 3}, {"b", 50, 0, "z", false, 1}};
  EXPECT_EQ(choose_host(hosts, 1), 1u);
  hosts[0].launching = 1;
  EXPECT_EQ(choose_host(hosts, 1), 0u); // equally busy: bin-packing
  hosts[1].has_code = true;             // the code is worth less than an idle CPU ...
  hosts[1].launching = 2;
  EXPECT_EQ(choose_host(hosts, 1), 0u);
  hosts[1].launching = 1; // ... and breaks ties between equally busy hosts
  EXPECT_EQ(choose_host(hosts, 1), 1u);
}

TEST(PlacementPolicy, SharedTenantsMixButNotOnAHostADedicatedTenantHolds) {
  host_view mixed{"a", 10, 0, "z", false, 0, {"t1", "t2"}, ""};
  host_view held{"b", 50, 0, "z", false, 0, {"d"}, "d"};
  host_view empty{"c", 60, 0, "z", false, 0, {}, ""};
  tenancy t3{"t3", false};
  EXPECT_TRUE(admits(mixed, t3));
  EXPECT_FALSE(admits(held, t3));
  EXPECT_TRUE(admits(held, {"d", true}));
  EXPECT_EQ(choose_host({mixed, held, empty}, 1, t3), 0u); // the tightest fit it may use
  EXPECT_EQ(choose_host({held}, 1, t3), std::nullopt);
}

TEST(PlacementPolicy, ADedicatedTenantTakesOnlyHostsWithNobodyElse) {
  host_view mixed{"a", 10, 0, "z", false, 0, {"t1"}, ""};
  host_view own{"b", 50, 0, "z", false, 0, {"d"}, "d"};
  host_view empty{"c", 5, 0, "z", false, 0, {}, ""};
  tenancy d{"d", true};
  EXPECT_FALSE(admits(mixed, d));
  EXPECT_TRUE(admits(empty, d));
  // A host it holds already before a fresh one, though the fresh one packs tighter ...
  EXPECT_EQ(choose_host({mixed, own, empty}, 1, d), 1u);
  // ... but spreading the function comes first.
  own.function_instances = 1;
  EXPECT_EQ(choose_host({mixed, own, empty}, 1, d), 2u);
  EXPECT_EQ(choose_host({mixed}, 1, d), std::nullopt);
  // Another dedicated tenant's host is closed to it.
  host_view others{"e", 50, 0, "z", false, 0, {"x"}, "x"};
  EXPECT_FALSE(admits(others, d));
}

TEST(PlacementPolicy, ZonesAndCodeNeverOverrideCapacity) {
  std::vector<host_view> hosts{{"a", 0, 0, "empty-zone", true}, {"b", 1, 5, "busy", false}};
  EXPECT_EQ(choose_host(hosts, 1), 1u);
  EXPECT_FALSE(choose_host(hosts, 2));
}

#include "actors/policy/pool_sizing.hpp"
#include "actors/policy/token_bucket.hpp"

TEST(TokenBucket, BurstThenRate) {
  token_bucket b{10.0, 3.0}; // 10/s, burst 3
  EXPECT_TRUE(b.take(0));
  EXPECT_TRUE(b.take(0));
  EXPECT_TRUE(b.take(0));
  EXPECT_FALSE(b.take(0));
  EXPECT_EQ(b.wait_ms(0), 101);
  EXPECT_FALSE(b.take(50));
  EXPECT_TRUE(b.take(100));
  EXPECT_FALSE(b.take(100));
  EXPECT_TRUE(b.take(10'000)); // saved up to the burst, no more
  EXPECT_TRUE(b.take(10'000));
  EXPECT_TRUE(b.take(10'000));
  EXPECT_FALSE(b.take(10'000));
}

TEST(TokenBucket, TimeGoingBackwardsGivesNothing) {
  token_bucket b{1.0, 1.0};
  EXPECT_TRUE(b.take(5'000));
  EXPECT_FALSE(b.take(1'000));
  EXPECT_TRUE(b.take(6'000));
}

TEST(PoolSizing, TargetFollowsDemandWithinBounds) {
  pool_bounds bounds{2, 20, 1.0};
  EXPECT_EQ(pool_target(0.0, bounds), 2);
  EXPECT_EQ(pool_target(7.2, bounds), 8);
  EXPECT_EQ(pool_target(500.0, bounds), 20);
  EXPECT_EQ(pool_target(5.0, {4, 2, 1.0}), 4); // max below min: min wins
}

TEST(PoolSizing, RefillsWaitForALullWhileTheStockHoldsHalf) {
  EXPECT_EQ(refill_delay_ms(10, 10, -1, 1000), 0);      // no cold start yet
  EXPECT_EQ(refill_delay_ms(10, 10, 990, 1000), 40);    // one 10 ms ago: wait for the lull
  EXPECT_EQ(refill_delay_ms(10, 10, 950, 1000), 0);     // 50 ms of quiet
  EXPECT_EQ(refill_delay_ms(5, 10, 999, 1000), 40 + 9); // half: still waits
  EXPECT_EQ(refill_delay_ms(4, 10, 999, 1000), 0);      // below half: refill now
}

TEST(PoolSizing, DemandRisesWithBurstsAndDecays) {
  demand_rate d{10.0};
  for (int i = 0; i < 100; ++i)
    d.on_take(0);
  EXPECT_NEAR(d.per_second(0), 10.0, 1e-9);
  EXPECT_NEAR(d.per_second(10'000), 10.0 / std::exp(1.0), 1e-6); // one time constant
  EXPECT_LT(d.per_second(100'000), 0.001);
}

TEST(TenantAdmission, HoldsEachTenantsConcurrency) {
  tenant_admission a{{0, 0, 2}};
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  EXPECT_EQ(a.admit("t", 0), refusal::concurrency);
  EXPECT_EQ(a.admit("u", 0), refusal::none) << "another tenant has its own";
  EXPECT_EQ(a.in_flight("t"), 2);
  a.release("t");
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  a.release("nobody"); // harmless
  EXPECT_EQ(a.in_flight("nobody"), 0);
}

TEST(TenantAdmission, HoldsEachTenantsRateAndARefusalTakesNothing) {
  tenant_admission a{{10, 2, 0}}; // 10 a second, 2 at once
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  EXPECT_EQ(a.admit("t", 0), refusal::rate);
  EXPECT_EQ(a.in_flight("t"), 2);
  EXPECT_EQ(a.wait_ms("t", 0), 101);
  EXPECT_EQ(a.admit("t", 100), refusal::none); // one token a tenth of a second
  EXPECT_EQ(a.admit("t", 100), refusal::rate);
}

TEST(TenantAdmission, ConcurrencyIsCheckedBeforeTheRateSpendsAToken) {
  tenant_admission a{{1, 1, 1}};
  EXPECT_EQ(a.admit("t", 0), refusal::none);
  EXPECT_EQ(a.admit("t", 5000), refusal::concurrency);
  a.release("t");
  EXPECT_EQ(a.admit("t", 5000), refusal::none) << "the refused request took no token";
}

TEST(TenantAdmission, NoLimitsAdmitEverything) {
  tenant_admission a;
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(a.admit("t", 0), refusal::none);
}

#include "actors/policy/egress.hpp"

namespace {

std::vector<troupe::policy::egress_rule> rules_of(std::vector<std::string> texts) {
  std::vector<troupe::policy::egress_rule> out;
  for (const auto& t : texts) {
    std::string error;
    auto r = troupe::policy::parse_egress_rule(t, &error);
    EXPECT_TRUE(r) << error;
    if (r)
      out.push_back(*r);
  }
  return out;
}

bool allowed(const std::vector<troupe::policy::egress_rule>& rules, std::string host,
             std::string address, uint16_t port) {
  return troupe::policy::egress_allowed(rules, {std::move(host), std::move(address), port});
}

} // namespace

TEST(EgressRules, ParseIntoANormalFormAndRefuseWhatTheyCannotMean) {
  using troupe::policy::parse_egress_rule;
  std::string error;
  EXPECT_EQ(parse_egress_rule("10.1.2.3/8", &error)->text, "10.0.0.0/8:*");
  EXPECT_EQ(parse_egress_rule("192.0.2.7:443", &error)->text, "192.0.2.7/32:443");
  EXPECT_EQ(parse_egress_rule("API.Example.com:8000-8999", &error)->text,
            "api.example.com:8000-8999");
  EXPECT_EQ(parse_egress_rule("*.example.com:*", &error)->text, "*.example.com:*");
  EXPECT_EQ(parse_egress_rule("[2001:db8::1/32]:443", &error)->text, "[2001:db8::/32]:443");
  EXPECT_EQ(parse_egress_rule("[::1]", &error)->text, "[::1/128]:*");
  for (const char* bad : {"", "example.com", "example.com:0", "example.com:70000", "a..b:80",
                          "-a.com:80", "10.0.0.0/33", "10.0.0.0/8:9-1", "2001:db8::1",
                          "[2001:db8::1", "[10.0.0.1]:80", "*.:80", "ex ample.com:80"}) {
    error.clear();
    EXPECT_FALSE(parse_egress_rule(bad, &error)) << bad;
    EXPECT_NE(error.find("egress rule '" + std::string{bad} + "'"), std::string::npos) << error;
  }
}

TEST(EgressRules, DenyByDefaultAndAllowOnlyWhatARuleNames) {
  EXPECT_FALSE(allowed({}, "example.com", "93.184.216.34", 443));
  auto rules = rules_of({"10.0.0.0/8", "192.0.2.7:443", "*.example.com:443", "api.test:8000-8999",
                         "[2001:db8::/32]:443"});
  EXPECT_TRUE(allowed(rules, "", "10.200.3.4", 5432)); // inside the network, any port
  EXPECT_FALSE(allowed(rules, "", "11.0.0.1", 5432));  // outside it
  EXPECT_TRUE(allowed(rules, "", "192.0.2.7", 443));   // that address and port only
  EXPECT_FALSE(allowed(rules, "", "192.0.2.7", 80));
  EXPECT_TRUE(allowed(rules, "www.EXAMPLE.com", "198.51.100.1", 443)); // by the name asked for
  EXPECT_TRUE(allowed(rules, "a.b.example.com", "198.51.100.1", 443));
  EXPECT_FALSE(allowed(rules, "example.com", "198.51.100.1", 443)); // *.d is not d itself
  EXPECT_FALSE(allowed(rules, "badexample.com", "198.51.100.1", 443));
  EXPECT_FALSE(allowed(rules, "www.example.com", "198.51.100.1", 80));
  EXPECT_TRUE(allowed(rules, "api.test", "203.0.113.9", 8500));
  EXPECT_FALSE(allowed(rules, "api.test", "203.0.113.9", 9000));
  EXPECT_TRUE(allowed(rules, "", "2001:db8:1::5", 443));
  EXPECT_FALSE(allowed(rules, "", "2001:db9::5", 443));
  EXPECT_FALSE(allowed(rules, "", "not-an-address", 443)); // an address rule needs an address
}
