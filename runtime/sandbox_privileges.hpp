#pragma once
// Internal to troupe-sandbox-init: what the runtime process gives up before
// it runs anything of a function's.

#include <cstdint>

namespace troupe::runtime::init {

/// Default signal dispositions and an empty mask: nothing inherited from the host.
void reset_signals();

/// RLIMIT_CORE 0 and RLIMIT_NOFILE 1024 (see the definition for why no others).
void limit_resources();

/// Becomes `uid`/`gid` with no supplementary groups, no capability in any set
/// (bounding and ambient included), locked securebits and no_new_privs.
void drop_privileges(std::uint32_t uid, std::uint32_t gid);

} // namespace troupe::runtime::init
