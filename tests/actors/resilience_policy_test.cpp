#include "actors/policy/async_retry.hpp"
#include "actors/policy/backoff.hpp"
#include "actors/policy/breaker.hpp"
#include "actors/policy/host_breakers.hpp"
#include "actors/policy/retry_budget.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

using namespace troupe::policy;

namespace {

constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

/// Settings where only the consecutive rule can open the breaker.
breaker_settings consecutive_only(int32_t n) {
  breaker_settings s;
  s.consecutive_failures = n;
  s.window_min_calls = 1000;
  return s;
}

/// Settings where only the ratio rule can open the breaker.
breaker_settings ratio_only(int32_t min_calls, double ratio) {
  breaker_settings s;
  s.consecutive_failures = 1000;
  s.window_min_calls = min_calls;
  s.failure_ratio = ratio;
  return s;
}

/// Reports `n` failures at `now_ms`.
void fail(breaker& b, int n, int64_t now_ms) {
  for (int i = 0; i < n; ++i)
    b.on_failure(now_ms);
}

/// Takes an open breaker through half-open back to closed at `now_ms` (past its cool-down).
void probe_and_close(breaker& b, int64_t now_ms) {
  ASSERT_EQ(b.admit(now_ms), admission::probe);
  b.on_success(now_ms);
  ASSERT_EQ(b.state(), breaker_state::closed);
}

} // namespace

// --- breaker ---------------------------------------------------------------------------------

TEST(Breaker, NamesItsStates) {
  EXPECT_STREQ(to_string(breaker_state::closed), "closed");
  EXPECT_STREQ(to_string(breaker_state::open), "open");
  EXPECT_STREQ(to_string(breaker_state::half_open), "half_open");
}

TEST(Breaker, StartsClosedAndAllowsCalls) {
  breaker b;
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_EQ(b.admit(0), admission::allowed);
  EXPECT_EQ(b.retry_after_ms(0), 0);
  EXPECT_EQ(b.reason(), "");
  EXPECT_EQ(b.times_opened(), 0);
  EXPECT_EQ(b.rejected(), 0);
  EXPECT_EQ(b.cool_down_ms(), 500);
}

TEST(Breaker, OpensAfterConsecutiveFailures) {
  breaker b; // defaults: 5 in a row
  fail(b, 4, 100);
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(100);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.reason(), "5 consecutive platform failures");
  EXPECT_EQ(b.times_opened(), 1);
  EXPECT_EQ(b.cool_down_ms(), 500);
  EXPECT_EQ(b.retry_after_ms(100), 500);
  EXPECT_EQ(b.retry_after_ms(350), 250);
  EXPECT_EQ(b.retry_after_ms(9999), 0); // cool-down passed, no admit yet
  EXPECT_EQ(b.admit(350), admission::rejected);
  EXPECT_EQ(b.admit(599), admission::rejected);
  EXPECT_EQ(b.rejected(), 2);
}

TEST(Breaker, ASuccessBreaksTheRun) {
  breaker b(consecutive_only(5));
  fail(b, 4, 0);
  b.on_success(0);
  fail(b, 4, 0);
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(0);
  EXPECT_EQ(b.state(), breaker_state::open);
}

TEST(Breaker, OpensOnFailureRatioOnceTheWindowHoldsEnoughCalls) {
  breaker b(ratio_only(10, 0.5));
  for (int i = 0; i < 4; ++i) { // S F S F S F S F: 4 of 8
    b.on_success(i);
    b.on_failure(i);
  }
  b.on_failure(10); // 5 of 9: too few calls
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(20); // 6 of 10
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.reason(), "6 of 10 calls failed in 10000 ms");
}

TEST(Breaker, StaysClosedBelowTheRatio) {
  breaker b(ratio_only(10, 0.5));
  fail(b, 4, 0);
  for (int i = 0; i < 6; ++i)
    b.on_success(0);
  EXPECT_EQ(b.state(), breaker_state::closed); // 4 of 10
  b.on_failure(0);                             // 5 of 11 < 0.5
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(0); // 6 of 12
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.reason(), "6 of 12 calls failed in 10000 ms");
}

TEST(Breaker, ChecksTheRatioOnFailuresOnly) {
  breaker b(ratio_only(10, 0.5));
  fail(b, 5, 0);
  for (int i = 0; i < 5; ++i)
    b.on_success(0);
  EXPECT_EQ(b.state(), breaker_state::closed); // 5 of 10, but the last outcome succeeded
  b.on_failure(0);
  EXPECT_EQ(b.reason(), "6 of 11 calls failed in 10000 ms");
}

TEST(Breaker, TheWindowIsFixedAndRestarts) {
  breaker within(ratio_only(10, 0.5));
  fail(within, 5, 0);
  fail(within, 4, 9999); // still the window started at 0
  EXPECT_EQ(within.state(), breaker_state::closed);
  within.on_failure(9999);
  EXPECT_EQ(within.reason(), "10 of 10 calls failed in 10000 ms");

  breaker expired(ratio_only(10, 0.5));
  fail(expired, 5, 0);
  fail(expired, 9, 10000); // a new window started at 10000
  EXPECT_EQ(expired.state(), breaker_state::closed);
  fail(expired, 1, 19999);
  EXPECT_EQ(expired.state(), breaker_state::open);
  EXPECT_EQ(expired.reason(), "10 of 10 calls failed in 10000 ms");
}

TEST(Breaker, IgnoresOutcomesWhileOpen) {
  breaker b(consecutive_only(1));
  b.on_failure(0);
  ASSERT_EQ(b.state(), breaker_state::open);
  b.on_success(10);
  b.on_failure(20);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.ignored(), 2);
  EXPECT_EQ(b.times_opened(), 1);
  EXPECT_EQ(b.retry_after_ms(20), 480); // the late failure did not extend the cool-down
  EXPECT_EQ(b.cool_down_ms(), 500);
}

TEST(Breaker, TurnsHalfOpenAtAdmitAfterTheCoolDown) {
  breaker b(consecutive_only(1));
  b.on_failure(100);
  EXPECT_EQ(b.admit(599), admission::rejected);
  EXPECT_EQ(b.retry_after_ms(599), 1);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.admit(600), admission::probe);
  EXPECT_EQ(b.state(), breaker_state::half_open);
  EXPECT_EQ(b.retry_after_ms(600), 0);
  EXPECT_EQ(b.admit(601), admission::rejected); // the one probe is out
  EXPECT_EQ(b.rejected(), 2);
  b.on_success(650);
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_EQ(b.admit(651), admission::allowed);
  EXPECT_EQ(b.times_opened(), 1);
}

TEST(Breaker, ClosesOnlyWhenAllProbesSucceed) {
  breaker_settings s = consecutive_only(1);
  s.probes = 3;
  breaker b(s);
  b.on_failure(0);
  EXPECT_EQ(b.admit(500), admission::probe);
  EXPECT_EQ(b.admit(500), admission::probe);
  EXPECT_EQ(b.admit(500), admission::probe);
  EXPECT_EQ(b.admit(500), admission::rejected);
  b.on_success(510);
  b.on_success(510);
  EXPECT_EQ(b.state(), breaker_state::half_open);
  EXPECT_EQ(b.admit(510), admission::rejected); // answered probes still count as out
  b.on_success(510);
  EXPECT_EQ(b.state(), breaker_state::closed);
}

TEST(Breaker, ASuccessCountsOnlyAgainstAnOutstandingProbe) {
  breaker_settings s = consecutive_only(1);
  s.probes = 2;
  breaker b(s);
  b.on_failure(0);
  ASSERT_EQ(b.admit(500), admission::probe);
  b.on_success(510);
  b.on_success(510); // a late answer of a call sent before it opened: no probe outstanding
  EXPECT_EQ(b.state(), breaker_state::half_open);
  EXPECT_EQ(b.ignored(), 1);
  ASSERT_EQ(b.admit(520), admission::probe);
  b.on_success(530);
  EXPECT_EQ(b.state(), breaker_state::closed);
}

TEST(Breaker, AFailedProbeReopensWithTheCoolDownDoubledUpToTheCap) {
  breaker_settings s = consecutive_only(1);
  s.max_cool_down_ms = 3000;
  breaker b(s);
  b.on_failure(0); // 500
  int64_t now = 0;
  for (int64_t expected : {1000, 2000, 3000, 3000}) {
    now += b.cool_down_ms();
    ASSERT_EQ(b.admit(now), admission::probe);
    EXPECT_EQ(b.cool_down_ms(), expected); // half-open: what a failed probe would bring
    b.on_failure(now + 10);
    EXPECT_EQ(b.state(), breaker_state::open);
    EXPECT_EQ(b.reason(), "a probe failed");
    EXPECT_EQ(b.cool_down_ms(), expected);
    EXPECT_EQ(b.retry_after_ms(now + 10), expected);
    now += 10;
  }
  EXPECT_EQ(b.times_opened(), 5);
}

TEST(Breaker, AnyFailureWhileHalfOpenReopens) {
  breaker_settings s = consecutive_only(1);
  s.probes = 2;
  breaker b(s);
  b.on_failure(0);
  ASSERT_EQ(b.admit(500), admission::probe);
  b.on_success(510); // 1 of 2 probes; none outstanding now
  b.on_failure(520); // a call that was not a probe
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.reason(), "a call failed while half-open");
  EXPECT_EQ(b.cool_down_ms(), 1000);
  EXPECT_EQ(b.retry_after_ms(520), 1000);
}

TEST(Breaker, ClosingResetsTheConsecutiveCount) {
  breaker b(consecutive_only(3));
  fail(b, 3, 0);
  probe_and_close(b, 500);
  fail(b, 2, 600);
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(600);
  EXPECT_EQ(b.reason(), "3 consecutive platform failures");
}

TEST(Breaker, ClosingResetsTheWindow) {
  breaker b(ratio_only(4, 0.5));
  fail(b, 4, 0);
  ASSERT_EQ(b.reason(), "4 of 4 calls failed in 10000 ms");
  probe_and_close(b, 500);
  fail(b, 3, 600); // same 10 s, but a fresh window
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_failure(600);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.reason(), "4 of 4 calls failed in 10000 ms");
}

TEST(Breaker, ReopeningSoonAfterClosingDoublesTheCoolDown) {
  breaker b(consecutive_only(1)); // cool-down 500, max 30000
  b.on_failure(0);
  probe_and_close(b, 500);
  EXPECT_EQ(b.cool_down_ms(), 1000); // what reopening soon would use
  b.on_failure(500 + 30000);         // closed exactly max_cool_down_ms: still "soon"
  EXPECT_EQ(b.cool_down_ms(), 1000);
  EXPECT_EQ(b.retry_after_ms(30500), 1000);
  probe_and_close(b, 31500);
  b.on_failure(31500 + 10);
  EXPECT_EQ(b.cool_down_ms(), 2000);
  EXPECT_EQ(b.times_opened(), 3);
}

TEST(Breaker, TheCoolDownFallsBackAfterAQuietStretch) {
  breaker b(consecutive_only(1));
  b.on_failure(0);
  ASSERT_EQ(b.admit(500), admission::probe);
  b.on_failure(500); // 1000
  probe_and_close(b, 1500);
  EXPECT_EQ(b.cool_down_ms(), 2000); // the fall-back is checked lazily, when it opens
  b.on_failure(1500 + 30001);
  EXPECT_EQ(b.cool_down_ms(), 500);
  EXPECT_EQ(b.retry_after_ms(31501), 500);
  EXPECT_EQ(b.reason(), "1 consecutive platform failure");
}

TEST(Breaker, NeverExceedsTheCapEvenTheFirstTime) {
  breaker_settings s = consecutive_only(1);
  s.cool_down_ms = 5000;
  s.max_cool_down_ms = 1000;
  breaker b(s);
  EXPECT_EQ(b.cool_down_ms(), 1000);
  b.on_failure(0);
  EXPECT_EQ(b.retry_after_ms(0), 1000);
  ASSERT_EQ(b.admit(1000), admission::probe);
  b.on_failure(1000);
  EXPECT_EQ(b.retry_after_ms(1000), 1000);
}

TEST(Breaker, AtLeastOneProbe) {
  breaker_settings s = consecutive_only(1);
  s.probes = 0;
  breaker b(s);
  b.on_failure(0);
  EXPECT_EQ(b.admit(500), admission::probe);
  EXPECT_EQ(b.admit(500), admission::rejected);
  b.on_success(500);
  EXPECT_EQ(b.state(), breaker_state::closed);
}

// --- backoff ---------------------------------------------------------------------------------

TEST(Backoff, ExponentialDoublesUpToTheCap) {
  backoff_settings s{10, 1000};
  EXPECT_EQ(exponential_ms(s, 0), 10);
  EXPECT_EQ(exponential_ms(s, 1), 20);
  EXPECT_EQ(exponential_ms(s, 6), 640);
  EXPECT_EQ(exponential_ms(s, 7), 1000); // 1280, capped
  EXPECT_EQ(exponential_ms(s, -3), 10);  // negative counts as the first retry
}

TEST(Backoff, ExponentialNeverOverflows) {
  backoff_settings s{10, 1000};
  EXPECT_EQ(exponential_ms(s, 62), 1000);
  EXPECT_EQ(exponential_ms(s, 63), 1000);
  EXPECT_EQ(exponential_ms(s, std::numeric_limits<int32_t>::max()), 1000);
  backoff_settings huge{1, int64_max};
  EXPECT_EQ(exponential_ms(huge, 62), int64_t(1) << 62);
  EXPECT_EQ(exponential_ms(huge, 63), int64_max);
  backoff_settings big_base{int64_max / 2 + 1, int64_max};
  EXPECT_EQ(exponential_ms(big_base, 1), int64_max);
}

TEST(Backoff, ExponentialDegenerateSettings) {
  EXPECT_EQ(exponential_ms({0, 1000}, 5), 0);
  EXPECT_EQ(exponential_ms({100, 50}, 0), 50); // the cap wins even at the first retry
  EXPECT_EQ(exponential_ms({100, -5}, 0), 0);
  EXPECT_EQ(exponential_ms({-100, 1000}, 3), 0);
}

TEST(Backoff, FullJitterIsUniformOverZeroToTheCeiling) {
  backoff_settings s{3, 1000}; // retry 0: ceiling 3, so 0, 1, 2, 3 a quarter each
  EXPECT_EQ(full_jitter_ms(s, 0, 0.0), 0);
  EXPECT_EQ(full_jitter_ms(s, 0, 0.26), 1);
  EXPECT_EQ(full_jitter_ms(s, 0, 0.51), 2);
  EXPECT_EQ(full_jitter_ms(s, 0, 0.76), 3);
  EXPECT_EQ(full_jitter_ms(s, 0, 0.999999), 3);
  EXPECT_EQ(full_jitter_ms({10, 1000}, 2, 0.5), 20);   // ceiling 40: floor(0.5 * 41)
  EXPECT_EQ(full_jitter_ms({10, 1000}, 20, 0.5), 500); // ceiling 1000: floor(0.5 * 1001)
}

TEST(Backoff, FullJitterClampsTheUnit) {
  backoff_settings s{10, 1000};
  EXPECT_EQ(full_jitter_ms(s, 0, -0.5), 0);
  EXPECT_EQ(full_jitter_ms(s, 0, 1.0), 10);
  EXPECT_EQ(full_jitter_ms(s, 0, 7.0), 10);
  backoff_settings huge{1, int64_max};
  EXPECT_EQ(full_jitter_ms(huge, 100, 1.0), int64_max); // no overflow converting back
  EXPECT_EQ(full_jitter_ms(huge, 100, 0.0), 0);
  EXPECT_EQ(full_jitter_ms(huge, 100, 0.25), int64_t(1) << 61);
}

// --- retry budget ----------------------------------------------------------------------------

TEST(RetryBudget, StartsFull) {
  retry_budget b(0.1, 3);
  EXPECT_DOUBLE_EQ(b.tokens(), 3.0);
  EXPECT_TRUE(b.try_retry());
  EXPECT_TRUE(b.try_retry());
  EXPECT_TRUE(b.try_retry());
  EXPECT_FALSE(b.try_retry());
  EXPECT_EQ(b.retries(), 3);
  EXPECT_EQ(b.refused(), 1);
  EXPECT_EQ(b.requests(), 0);
}

TEST(RetryBudget, EachRequestEarnsTheRatio) {
  retry_budget b(0.1, 10);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(b.try_retry());
  for (int i = 0; i < 9; ++i)
    b.on_request();
  EXPECT_FALSE(b.try_retry()); // 0.9 tokens
  b.on_request();
  EXPECT_TRUE(b.try_retry()); // ten requests at 0.1 make exactly one token
  EXPECT_FALSE(b.try_retry());
  EXPECT_EQ(b.requests(), 10);
  EXPECT_EQ(b.retries(), 11);
  EXPECT_EQ(b.refused(), 2);
}

TEST(RetryBudget, SavesAtMostMaxTokens) {
  retry_budget b(1.0, 2);
  for (int i = 0; i < 100; ++i)
    b.on_request();
  EXPECT_DOUBLE_EQ(b.tokens(), 2.0);
  EXPECT_TRUE(b.try_retry());
  EXPECT_TRUE(b.try_retry());
  EXPECT_FALSE(b.try_retry());
}

TEST(RetryBudget, RetriesStayWithinRatioTimesRequestsPlusMaxTokens) {
  retry_budget b; // 0.1, 10
  for (int i = 0; i < 1000; ++i) {
    b.on_request();
    while (b.try_retry()) {
    }
  }
  // 0.1 * 1000 + 10 at most; the first request's 0.1 is lost to the full bucket.
  EXPECT_EQ(b.retries(), 109);
  EXPECT_EQ(b.requests(), 1000);
}

TEST(RetryBudget, ANegativeRatioEarnsNothing) {
  retry_budget b(-1.0, 1);
  EXPECT_TRUE(b.try_retry());
  b.on_request();
  EXPECT_FALSE(b.try_retry());
  EXPECT_DOUBLE_EQ(b.tokens(), 0.0);
}

// --- asynchronous retries --------------------------------------------------------------------

TEST(AsyncRetry, FunctionErrorsRetryTwiceAfterOneThenTwoMinutes) {
  async_retry_settings s;
  auto first = after_failure(s, failure_kind::function_error, 0, 1, 0, 1000, 0.9);
  EXPECT_TRUE(first.retry);
  EXPECT_EQ(first.at_ms, 61000); // no jitter: `unit` is not used
  EXPECT_EQ(first.dead_letter_reason, "");
  auto second = after_failure(s, failure_kind::function_error, 1, 2, 0, 61000, 0.1);
  EXPECT_TRUE(second.retry);
  EXPECT_EQ(second.at_ms, 181000);
  auto third = after_failure(s, failure_kind::function_error, 2, 3, 0, 181000, 0.1);
  EXPECT_FALSE(third.retry);
  EXPECT_EQ(third.at_ms, 0);
  EXPECT_EQ(third.dead_letter_reason, "retries exhausted after 3 attempts");
}

TEST(AsyncRetry, NoRetriesMeansTheFirstFunctionErrorStops) {
  async_retry_settings s;
  s.max_retries = 0;
  auto d = after_failure(s, failure_kind::function_error, 0, 1, 0, 1000, 0.5);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.dead_letter_reason, "retries exhausted after 1 attempt");
}

TEST(AsyncRetry, AFunctionErrorPastTheMaxAgeIsDeadLettered) {
  async_retry_settings s;
  s.max_event_age_ms = 100000;
  auto late = after_failure(s, failure_kind::function_error, 0, 1, 0, 40000, 0.5);
  EXPECT_FALSE(late.retry); // 100000 would be at the max age
  EXPECT_EQ(late.dead_letter_reason, "event older than 100 s");
  auto in_time = after_failure(s, failure_kind::function_error, 0, 1, 0, 39999, 0.5);
  EXPECT_TRUE(in_time.retry);
  EXPECT_EQ(in_time.at_ms, 99999);
}

TEST(AsyncRetry, ThrottlesRetryWithFullJitter) {
  async_retry_settings s; // 1 s doubling up to 5 min
  auto first = after_failure(s, failure_kind::throttled, 0, 1, 0, 5000, 0.5);
  EXPECT_TRUE(first.retry);
  EXPECT_EQ(first.at_ms, 5000 + 500); // floor(0.5 * 1001)
  auto third = after_failure(s, failure_kind::throttled, 0, 3, 0, 5000, 0.999999);
  EXPECT_EQ(third.at_ms, 5000 + 4000); // ceiling of retry 2
  auto many = after_failure(s, failure_kind::platform, 0, 100, 0, 5000, 0.999999);
  EXPECT_EQ(many.at_ms, 5000 + 300000); // the cap
}

TEST(AsyncRetry, AZeroJitterStillWaitsOneMillisecond) {
  async_retry_settings s;
  auto d = after_failure(s, failure_kind::platform, 0, 1, 0, 5000, 0.0);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.at_ms, 5001);
  auto none = after_failure(s, failure_kind::platform, 0, 0, 0, 5000, 0.0); // attempts 0: retry 0
  EXPECT_EQ(none.at_ms, 5001);
  s.function_error_backoff = {0, 0};
  auto fe = after_failure(s, failure_kind::function_error, 0, 1, 0, 5000, 0.0);
  EXPECT_EQ(fe.at_ms, 5001);
}

TEST(AsyncRetry, ThrottlesIgnoreTheFunctionErrorRetries) {
  async_retry_settings s;
  auto d = after_failure(s, failure_kind::throttled, 2, 4, 0, 5000, 0.0);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.at_ms, 5001);
}

TEST(AsyncRetry, ThrottlesAndPlatformErrorsStopAtTheMaxAge) {
  async_retry_settings s; // six hours
  const int64_t age = 6 * 3600 * 1000LL;
  const int64_t enqueued = 1000;
  auto at_limit =
      after_failure(s, failure_kind::throttled, 0, 1, enqueued, enqueued + age - 1000, 0.999999);
  EXPECT_FALSE(at_limit.retry); // would try exactly at the max age
  EXPECT_EQ(at_limit.dead_letter_reason, "event older than 21600 s");
  auto before =
      after_failure(s, failure_kind::throttled, 0, 1, enqueued, enqueued + age - 1001, 0.999999);
  EXPECT_TRUE(before.retry);
  EXPECT_EQ(before.at_ms, enqueued + age - 1);
  auto past = after_failure(s, failure_kind::platform, 0, 1, enqueued, enqueued + age + 5, 0.0);
  EXPECT_FALSE(past.retry);
  EXPECT_EQ(past.at_ms, 0);
}

TEST(AsyncRetry, AnAgeNotInWholeSecondsIsReportedInMilliseconds) {
  async_retry_settings s;
  s.max_event_age_ms = 1500;
  auto d = after_failure(s, failure_kind::platform, 0, 1, 0, 1000, 0.999999);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.dead_letter_reason, "event older than 1500 ms");
}

namespace {

TEST(HostBreakers, AHostThatJustFailedIsAvoidedForOneCoolDown) {
  breaker_settings s = consecutive_only(3);
  s.cool_down_ms = 100;
  host_breakers hb{s};
  EXPECT_TRUE(hb.avoid(0).empty());
  hb.on_failure("b", 10);
  EXPECT_EQ(hb.avoid(50), std::vector<std::string>{"b"});
  EXPECT_TRUE(hb.avoid(50, false).empty()) << "only open breakers, when asked";
  EXPECT_TRUE(hb.would_admit("b", 50)); // one failure: still closed
  EXPECT_EQ(hb.admit("b", 50), admission::allowed);
  EXPECT_TRUE(hb.avoid(110).empty()); // a cool-down later it may be tried again
  hb.on_failure("b", 120);
  hb.on_success("b", 130); // a success clears it at once
  EXPECT_TRUE(hb.avoid(131).empty());
}

TEST(HostBreakers, AnOpenHostIsAvoidedAndRejectedUntilItsProbe) {
  breaker_settings s = consecutive_only(2);
  s.cool_down_ms = 100;
  host_breakers hb{s};
  hb.on_success("a", 0);
  hb.on_failure("b", 0);
  hb.on_failure("b", 1); // opens
  EXPECT_FALSE(hb.would_admit("b", 50));
  EXPECT_TRUE(hb.would_admit("a", 50));
  EXPECT_TRUE(hb.would_admit("never-seen", 50));
  EXPECT_EQ(hb.avoid(50), std::vector<std::string>{"b"});
  EXPECT_EQ(hb.avoid(50, false), std::vector<std::string>{"b"});
  EXPECT_EQ(hb.admit("b", 50), admission::rejected);
  EXPECT_EQ(hb.admit("a", 50), admission::allowed);
  EXPECT_TRUE(hb.would_admit("b", 101));
  EXPECT_EQ(hb.admit("b", 101), admission::probe);
  hb.on_success("b", 102);
  int seen = 0;
  hb.for_each([&](const std::string& host, const breaker& b) {
    ++seen;
    EXPECT_EQ(b.state(), breaker_state::closed) << host;
  });
  EXPECT_EQ(seen, 2);
}

} // namespace

namespace {

TEST(Breaker, ACancelledProbeGivesItsTurnBack) {
  breaker_settings s = consecutive_only(1);
  s.cool_down_ms = 100;
  breaker b{s};
  b.on_failure(0);
  EXPECT_FALSE(b.would_admit(50));
  EXPECT_TRUE(b.would_admit(100)) << "the cool-down is over: a probe would go";
  EXPECT_EQ(b.admit(100), admission::probe);
  EXPECT_FALSE(b.would_admit(101)) << "its one probe is out";
  EXPECT_EQ(b.admit(101), admission::rejected);
  b.on_cancelled();
  EXPECT_TRUE(b.would_admit(102));
  EXPECT_EQ(b.admit(102), admission::probe);
  b.on_success(103);
  EXPECT_EQ(b.state(), breaker_state::closed);
  b.on_cancelled(); // closed: nothing to give back
  EXPECT_TRUE(b.would_admit(104));
}

} // namespace
