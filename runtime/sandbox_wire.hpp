#pragma once
// Internal: the spec message from the host (sandbox.cpp) to troupe-sandbox-init
// (sandbox_init.cpp) over the control socket (fd 3 inside).

#include "runtime/sandbox.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::runtime::wire {

/// Frame on the stream socket: u32 payload length, then the payload
///   str code_dir | str runtime_dir | list argv | list env | u64 tmp_bytes | u32 uid | u32 gid
/// where str = u32 length + bytes and list = u32 count + str...; integers in host
/// byte order (both ends run on the same machine). The output fd travels as
/// SCM_RIGHTS with the first bytes of the frame; no fd means /dev/null.
/// Reply: none and EOF once the program was exec'd; otherwise an error text, then EOF.
constexpr std::uint32_t max_payload = 1u << 20;

inline void put_u32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

inline void put_u64(std::string& out, std::uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

inline void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

inline void put_list(std::string& out, const std::vector<std::string>& items) {
  put_u32(out, static_cast<std::uint32_t>(items.size()));
  for (const auto& s : items)
    put_str(out, s);
}

/// The whole frame (length prefix included) for `spec` and the compiled
/// seccomp program (`filter`, raw sock_filter bytes) the init installs before
/// exec; output_fd is not part of it (it travels as SCM_RIGHTS).
inline std::string encode(const sandbox_spec& spec, std::string_view filter) {
  std::string payload;
  put_str(payload, spec.code_dir);
  put_str(payload, spec.runtime_dir);
  put_list(payload, spec.argv);
  put_list(payload, spec.env);
  put_u64(payload, spec.tmp_bytes);
  put_u32(payload, spec.uid);
  put_u32(payload, spec.gid);
  put_str(payload, filter);
  std::string frame;
  put_u32(frame, static_cast<std::uint32_t>(payload.size()));
  return frame + payload;
}

/// Reads the payload field by field; any overrun turns `ok` false for good.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_ && pos_ == in_.size(); }

  template <class Int> Int integer() {
    Int v{};
    if (take(sizeof v))
      std::memcpy(&v, in_.data() + pos_ - sizeof v, sizeof v);
    return v;
  }

  std::string str() {
    auto n = integer<std::uint32_t>();
    if (!take(n))
      return {};
    return std::string(in_.substr(pos_ - n, n));
  }

  std::vector<std::string> list() {
    auto n = integer<std::uint32_t>();
    std::vector<std::string> out;
    for (std::uint32_t i = 0; i < n && ok_; ++i)
      out.push_back(str());
    return out;
  }

private:
  bool take(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n)
      return ok_ = false;
    pos_ += n;
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

/// Parses a payload (without its length prefix). False if malformed.
inline bool decode(std::string_view payload, sandbox_spec& spec, std::string& filter) {
  reader r(payload);
  spec.code_dir = r.str();
  spec.runtime_dir = r.str();
  spec.argv = r.list();
  spec.env = r.list();
  spec.tmp_bytes = r.integer<std::uint64_t>();
  spec.uid = r.integer<std::uint32_t>();
  spec.gid = r.integer<std::uint32_t>();
  filter = r.str();
  spec.output_fd = -1;
  return r.ok();
}

} // namespace troupe::runtime::wire
