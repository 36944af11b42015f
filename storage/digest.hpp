#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::storage {

using sha256_digest = std::array<uint8_t, 32>;

/// SHA-256 of `data` (OpenSSL).
sha256_digest sha256(std::string_view data);

/// SHA-256 over data given in pieces (OpenSSL). Not copyable.
class sha256_hasher {
public:
  sha256_hasher();
  ~sha256_hasher();
  sha256_hasher(const sha256_hasher&) = delete;
  sha256_hasher& operator=(const sha256_hasher&) = delete;
  void update(std::string_view data);
  /// The digest of everything given since construction or the last finish().
  sha256_digest finish();

private:
  void* ctx_; ///< EVP_MD_CTX
};

/// Lower-case hexadecimal spelling of a digest (64 characters).
std::string to_hex(const sha256_digest& d);

} // namespace troupe::storage
