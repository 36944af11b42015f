#pragma once
// Internal: the messages between the host (sandbox.cpp) and troupe-sandbox-init
// (sandbox_init.cpp) on the control socket (fd 3 inside), and between the init
// and the runtime process it pre-starts (fd 3 there).
//
// Host -> init, each a frame: u32 payload length, then the payload.
//   template  str root_dir | str runtime_dir | list argv | list env | u64 tmp_bytes
//             | u32 uid | u32 gid | str seccomp program
//   claim     list argv | list env | u32 take_output; SCM_RIGHTS with the first
//             bytes: the code tree (open_tree)
// where str = u32 length + bytes and list = u32 count + str...; integers in host
// byte order (both ends run on the same machine).
//
// Init -> host, one byte each, in this order (the host closes the socket
// after 'S'; the runtime's end shows as the init's exit status):
//   'R'  the template is ready: root built, runtime process waiting (health check passed)
//   'S'  the claim is done: code mounted, the runtime has its argv and environment;
//        with take_output, SCM_RIGHTS on it: the read end of the runtime's
//        stdout/stderr pipe, which the init reads no more (else it drains and
//        drops what the runtime writes)
//   'E' + text until EOF: a step failed; the init exits with 127
//
// Init <-> runtime process (a socket pair): the runtime writes 'R' once it is
// waiting; the init writes the claim as NUL-terminated strings, argv, an empty
// string, env, then shuts down its side. The runtime closes its end (exec with
// CLOEXEC, or an interpreter's bootstrap closing fd 3) once it has taken the
// claim, or writes why it could not first.

#include "runtime/sandbox.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::runtime::wire {

constexpr std::uint32_t max_payload = 1u << 20;

constexpr char ready = 'R';
constexpr char started = 'S';
constexpr char failed = 'E';

/// The template part of a sandbox, as the init receives it.
struct template_frame {
  std::string root_dir; ///< host directory the init mounts its root over
  std::string runtime_dir;
  std::vector<std::string> argv; ///< pre-started program; empty: wait, then exec the claim's
  std::vector<std::string> env;
  std::uint64_t tmp_bytes = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string filter; ///< compiled seccomp program, raw sock_filter bytes
};

/// What a claim carries besides its fds.
struct claim_frame {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  bool take_output = false; ///< hand the runtime's output pipe to the host
};

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

inline std::string framed(const std::string& payload) {
  std::string frame;
  put_u32(frame, static_cast<std::uint32_t>(payload.size()));
  return frame + payload;
}

inline std::string encode(const template_frame& t) {
  std::string p;
  put_str(p, t.root_dir);
  put_str(p, t.runtime_dir);
  put_list(p, t.argv);
  put_list(p, t.env);
  put_u64(p, t.tmp_bytes);
  put_u32(p, t.uid);
  put_u32(p, t.gid);
  put_str(p, t.filter);
  return framed(p);
}

inline std::string encode(const claim_frame& c) {
  std::string p;
  put_list(p, c.argv);
  put_list(p, c.env);
  put_u32(p, c.take_output ? 1 : 0);
  return framed(p);
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
inline bool decode(std::string_view payload, template_frame& t) {
  reader r(payload);
  t.root_dir = r.str();
  t.runtime_dir = r.str();
  t.argv = r.list();
  t.env = r.list();
  t.tmp_bytes = r.integer<std::uint64_t>();
  t.uid = r.integer<std::uint32_t>();
  t.gid = r.integer<std::uint32_t>();
  t.filter = r.str();
  return r.ok();
}

inline bool decode(std::string_view payload, claim_frame& c) {
  reader r(payload);
  c.argv = r.list();
  c.env = r.list();
  c.take_output = r.integer<std::uint32_t>() != 0;
  return r.ok();
}

/// The claim as the runtime process reads it: NUL-terminated argv, "", env.
inline std::string runtime_claim(const claim_frame& c) {
  std::string out;
  for (const auto& a : c.argv)
    out.append(a).push_back('\0');
  out.push_back('\0');
  for (const auto& e : c.env)
    out.append(e).push_back('\0');
  return out;
}

/// Splits runtime_claim's text back; false if it is malformed.
inline bool parse_runtime_claim(std::string_view in, claim_frame& c) {
  bool in_env = false;
  while (!in.empty()) {
    auto end = in.find('\0');
    if (end == std::string_view::npos)
      return false;
    auto item = std::string(in.substr(0, end));
    in.remove_prefix(end + 1);
    if (!in_env && item.empty())
      in_env = true;
    else
      (in_env ? c.env : c.argv).push_back(std::move(item));
  }
  return in_env;
}

} // namespace troupe::runtime::wire
