// The function-URL mapping: HTTP request -> Lambda event (payload format 2.0)
// and the function's result -> HTTP response.
#include "net/base64.hpp"
#include "net/json_writer.hpp"
#include "net/lambda_api.hpp"

#include <simdjson.h>

#include <cctype>
#include <map>

namespace troupe::net {

namespace od = simdjson::ondemand;

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_text(std::string_view content_type) {
  auto ct = lower(content_type);
  return ct.empty() || ct.rfind("text/", 0) == 0 || ct.find("json") != std::string::npos ||
         ct.find("xml") != std::string::npos ||
         ct.rfind("application/x-www-form-urlencoded", 0) == 0 ||
         ct.find("javascript") != std::string::npos;
}

std::vector<std::string> split_cookies(std::string_view header) {
  std::vector<std::string> out;
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    if (!part.empty())
      out.emplace_back(part);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
  }
  return out;
}

void write_headers(json_writer& w, const http_request& req, std::vector<std::string>& cookies) {
  std::map<std::string, std::string> headers;
  for (const auto& h : req.headers) {
    auto name = lower(h.name);
    if (name == "cookie") {
      for (auto& c : split_cookies(h.value))
        cookies.push_back(std::move(c));
      continue;
    }
    auto [it, fresh] = headers.emplace(name, h.value);
    if (!fresh)
      it->second += "," + h.value;
  }
  w.key("headers").begin_object();
  for (const auto& [k, v] : headers)
    w.field(k, v);
  w.end_object();
}

} // namespace

std::string function_url_event(const http_request& req, std::string_view raw_path,
                               std::string_view request_id, int64_t now_ms) {
  std::vector<std::string> cookies;
  json_writer w;
  w.begin_object()
      .field("version", "2.0")
      .field("routeKey", "$default")
      .field("rawPath", raw_path)
      .field("rawQueryString", req.query());
  write_headers(w, req, cookies);
  if (!cookies.empty()) {
    w.key("cookies").begin_array();
    for (const auto& c : cookies)
      w.value(c);
    w.end_array();
  }
  if (auto params = query_parameters(req.query()); !params.empty()) {
    w.key("queryStringParameters").begin_object();
    for (const auto& [k, v] : params)
      w.field(k, v);
    w.end_object();
  }
  w.key("requestContext")
      .begin_object()
      .field("accountId", "anonymous")
      .field("apiId", "troupe")
      .field("domainName", req.header("host"))
      .field("requestId", request_id)
      .field("routeKey", "$default")
      .field("stage", "$default")
      .field("timeEpoch", now_ms);
  w.key("http")
      .begin_object()
      .field("method", req.method)
      .field("path", raw_path)
      .field("protocol", "HTTP/1.1")
      .field("sourceIp", req.remote_ip)
      .field("userAgent", req.header("user-agent"))
      .end_object()
      .end_object();
  bool text = is_text(req.header("content-type"));
  if (!req.body.empty())
    w.field("body", text ? req.body : base64_encode(req.body));
  w.field("isBase64Encoded", !req.body.empty() && !text);
  w.end_object();
  return w.take();
}

namespace {

http_response bad_gateway(std::string_view why) {
  json_writer w;
  w.begin_object().field("Message", why).end_object();
  return json_response(502, w.take());
}

/// Fills `r` from a {statusCode, headers, cookies, body, isBase64Encoded} object.
std::optional<std::string> take_apart(od::object obj, http_response& r) {
  std::string body;
  bool b64 = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return "invalid JSON";
    od::value v = field.value();
    if (key == "statusCode") {
      int64_t code = 0;
      if (v.get_int64().get(code) || code < 100 || code > 599)
        return "statusCode must be an integer from 100 to 599";
      r.status = static_cast<int>(code);
    } else if (key == "headers") {
      od::object hs;
      if (v.get_object().get(hs))
        return "headers must be an object";
      for (auto h : hs) {
        std::string_view name, val;
        if (h.unescaped_key().get(name) || h.value().get_string().get(val))
          return "header values must be strings";
        r.set(std::string{name}, std::string{val});
      }
    } else if (key == "cookies") {
      od::array cs;
      if (v.get_array().get(cs))
        return "cookies must be an array of strings";
      for (auto c : cs) {
        std::string_view val;
        if (c.get_string().get(val))
          return "cookies must be an array of strings";
        r.set("Set-Cookie", std::string{val});
      }
    } else if (key == "body") {
      std::string_view val;
      if (v.get_string().get(val))
        return "body must be a string";
      body = std::string{val};
    } else if (key == "isBase64Encoded") {
      if (v.get_bool().get(b64))
        return "isBase64Encoded must be a boolean";
    }
  }
  if (b64) {
    auto raw = base64_decode(body);
    if (!raw)
      return "body is not valid base64";
    body = std::move(*raw);
  }
  r.body = std::move(body);
  return std::nullopt;
}

bool has_status_code(std::string_view payload) {
  od::parser parser;
  simdjson::padded_string json{payload};
  od::document doc;
  od::object obj;
  if (parser.iterate(json).get(doc) || doc.get_object().get(obj))
    return false;
  od::value v;
  return !obj.find_field_unordered("statusCode").get(v);
}

} // namespace

http_response function_url_response(std::string_view payload) {
  if (!has_status_code(payload)) {
    // Any valid JSON document is returned as is (Lambda's inferred format).
    if (!valid_json(payload))
      return bad_gateway("the function returned a response that is not valid JSON");
    return json_response(200, std::string{payload});
  }
  od::parser parser;
  simdjson::padded_string json{payload};
  od::document doc;
  od::object obj;
  http_response r;
  if (parser.iterate(json).get(doc) || doc.get_object().get(obj))
    return bad_gateway("the function returned an invalid response");
  if (auto err = take_apart(obj, r))
    return bad_gateway("the function returned an invalid response: " + *err);
  return r;
}

} // namespace troupe::net
