#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace troupe::net {

/// Appends `s` to `out` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

/// A small streaming JSON writer: the caller nests correctly, the writer
/// places commas and escapes strings.
///   json_writer w; w.begin_object().key("a").value(1).end_object(); w.str();
class json_writer {
public:
  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view{s}); }
  template <class T, class = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
  json_writer& value(T n) {
    return integer(static_cast<int64_t>(n));
  }
  json_writer& value(bool b);
  json_writer& integer(int64_t n);
  json_writer& null();
  /// Inserts already valid JSON text as a value.
  json_writer& raw(std::string_view json);
  template <class T> json_writer& field(std::string_view k, const T& v) { return key(k).value(v); }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

private:
  json_writer& open(char c);
  json_writer& close(char c);
  void separate();
  std::string out_;
  bool need_comma_ = false;
};

} // namespace troupe::net
