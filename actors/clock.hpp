#pragma once

#include <chrono>
#include <cstdint>

namespace troupe {

/// Wall-clock time in Unix epoch milliseconds: what Lambda's deadlines and
/// timestamps are made of. Policies take it as a parameter; actors read it here.
inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Milliseconds on the steady clock: what timers, token buckets, breakers and
/// backoffs measure with, so that a step of the wall clock cannot stall them.
inline int64_t steady_ms(std::chrono::steady_clock::time_point t) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}
inline int64_t steady_ms() {
  return steady_ms(std::chrono::steady_clock::now());
}

} // namespace troupe
