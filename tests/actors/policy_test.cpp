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
