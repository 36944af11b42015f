#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::storage {

using sha256_digest = std::array<uint8_t, 32>;

/// SHA-256 of `data` (OpenSSL).
sha256_digest sha256(std::string_view data);

/// Lower-case hexadecimal spelling of a digest (64 characters).
std::string to_hex(const sha256_digest& d);

} // namespace troupe::storage
