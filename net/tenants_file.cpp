#include "net/tenants_file.hpp"

#include "net/lambda_api.hpp"

#include <openssl/rand.h>
#include <simdjson.h>

#include <stdexcept>

#include <set>

namespace troupe::net {

namespace od = simdjson::ondemand;

namespace {

bool valid_key_id(std::string_view id) {
  if (id.size() < 16 || id.size() > 128)
    return false;
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  return true;
}

bool valid_secret(std::string_view s) {
  if (s.size() < 16 || s.size() > 128)
    return false;
  for (char c : s)
    if (c <= ' ' || c > '~')
      return false;
  return true;
}

using result = std::optional<std::string>;

result parse_key(od::object key, const std::string& tenant, std::vector<credential>& out) {
  credential c{tenant, {}, {}, false};
  for (auto field : key) {
    std::string_view name, text;
    if (field.unescaped_key().get(name))
      return "tenant " + tenant + ": a key is not valid JSON";
    if (name != "id" && name != "secret")
      return "tenant " + tenant + ": unknown key field \"" + std::string{name} + "\"";
    if (field.value().get_string().get(text))
      return "tenant " + tenant + ": key field " + std::string{name} + " must be a string";
    (name == "id" ? c.key_id : c.secret) = std::string{text};
  }
  if (!valid_key_id(c.key_id))
    return "tenant " + tenant + ": key id \"" + c.key_id + "\" must be 16 to 128 of [A-Z0-9]";
  if (!valid_secret(c.secret))
    return "tenant " + tenant + ": the secret of key " + c.key_id +
           " must be 16 to 128 printable characters without spaces";
  out.push_back(std::move(c));
  return std::nullopt;
}

result parse_tenant(od::object t, std::vector<credential>& out) {
  std::string name;
  bool operator_access = false;
  od::array keys;
  bool has_keys = false;
  auto first = out.size();
  for (auto field : t) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return std::string{"a tenant is not valid JSON"};
    if (key == "name") {
      std::string_view text;
      if (field.value().get_string().get(text))
        return std::string{"a tenant's name must be a string"};
      name = std::string{text};
    } else if (key == "operator") {
      if (field.value().get_bool().get(operator_access))
        return "tenant " + name + ": operator must be true or false";
    } else if (key == "keys") {
      if (field.value().get_array().get(keys))
        return "tenant " + name + ": keys must be an array";
      has_keys = true;
      if (!valid_tenant_name(name)) // keys come after the name in the file
        return "a tenant's \"name\" (1-64 of [A-Za-z0-9_-]) must come before its keys";
      for (auto k : keys) {
        od::object obj;
        if (k.get_object().get(obj))
          return "tenant " + name + ": each key must be an object";
        if (auto err = parse_key(obj, name, out))
          return err;
      }
    } else {
      return "unknown tenant field \"" + std::string{key} + "\"";
    }
  }
  if (!valid_tenant_name(name))
    return "tenant name \"" + name + "\" must be 1 to 64 of [A-Za-z0-9_-]";
  if (!has_keys)
    return "tenant " + name + " has no keys";
  for (auto i = first; i < out.size(); ++i) // "operator" may come after "keys"
    out[i].operator_access = operator_access;
  return std::nullopt;
}

} // namespace

credential new_credential(std::string tenant, bool operator_access) {
  unsigned char bytes[16 + 40];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("OpenSSL's random generator failed");
  static constexpr char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  static constexpr char secret_chars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  credential c{std::move(tenant), "AKIA", {}, operator_access};
  for (int i = 0; i < 16; ++i) // 32 and 64 divide 256: every character equally likely
    c.key_id += id_chars[bytes[i] % 32];
  for (int i = 16; i < 56; ++i) // 40 characters of 6 bits: 240 bits of secret
    c.secret += secret_chars[bytes[i] % 64];
  return c;
}

bool valid_tenant_name(std::string_view name) {
  return valid_function_name(name);
}

std::optional<std::string> parse_tenants_file(std::string_view json, std::vector<credential>& out) {
  out.clear();
  od::parser parser;
  simdjson::padded_string text{json};
  od::document doc;
  od::object root;
  if (parser.iterate(text).get(doc) || doc.get_object().get(root))
    return std::string{"the tenants file must be a JSON object"};
  result err;
  bool seen = false;
  for (auto field : root) {
    std::string_view key;
    od::array tenants;
    if (field.unescaped_key().get(key) || key != "tenants" ||
        field.value().get_array().get(tenants)) {
      err = "the tenants file must be {\"tenants\": [...]}";
      break;
    }
    seen = true;
    for (auto t : tenants) {
      od::object obj;
      if (t.get_object().get(obj)) {
        err = "each tenant must be an object";
        break;
      }
      if ((err = parse_tenant(obj, out)))
        break;
    }
    if (err)
      break;
  }
  if (!err && !seen)
    err = "the tenants file must be {\"tenants\": [...]}";
  std::set<std::string> ids;
  for (const auto& c : out)
    if (!err && !ids.insert(c.key_id).second)
      err = "key id " + c.key_id + " appears more than once";
  if (err)
    out.clear();
  return err;
}

} // namespace troupe::net
