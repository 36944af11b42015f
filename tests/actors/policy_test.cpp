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
  EXPECT_FALSE(choose_host({{"a", 1, 0}, {"b", 0, 0}}, 2));
}

TEST(PlacementPolicy, SpreadsAFunctionThenPacks) {
  std::vector<host_view> hosts{{"a", 10, 2}, {"b", 50, 0}, {"c", 20, 0}};
  EXPECT_EQ(choose_host(hosts, 1), 2u); // fewest of this function, then tightest fit
  hosts[2].function_instances = 1;
  EXPECT_EQ(choose_host(hosts, 1), 1u);
  EXPECT_EQ(choose_host(hosts, 30), 1u); // only b fits
}

TEST(PlacementPolicy, TiesBreakByName) {
  EXPECT_EQ(choose_host({{"b", 5, 0}, {"a", 5, 0}}, 1), 1u);
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

TEST(PoolSizing, DemandRisesWithBurstsAndDecays) {
  demand_rate d{10.0};
  for (int i = 0; i < 100; ++i)
    d.on_take(0);
  EXPECT_NEAR(d.per_second(0), 10.0, 1e-9);
  EXPECT_NEAR(d.per_second(10'000), 10.0 / std::exp(1.0), 1e-6); // one time constant
  EXPECT_LT(d.per_second(100'000), 0.001);
}
