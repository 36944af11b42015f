#include "net/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <utility>

namespace troupe::net::sigv4 {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view terminator = "aws4_request";
constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";
constexpr int64_t max_skew_s = 5 * 60;
constexpr int64_t max_expires_s = 7 * 24 * 3600;

// ---- refusals -------------------------------------------------------------

api_error incomplete(std::string message) {
  return {400, "IncompleteSignatureException", std::move(message)};
}

api_error invalid(std::string message) {
  return {403, "InvalidSignatureException", std::move(message)};
}

api_error content_mismatch(std::string message) {
  return {400, "XAmzContentSHA256Mismatch", std::move(message)};
}

std::string bad_amz_date(std::string_view got) {
  return "Date must be in ISO-8601 'basic format'. Got '" + std::string{got} +
         "'. See http://en.wikipedia.org/wiki/ISO_8601";
}

// ---- text -----------------------------------------------------------------

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && blank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && blank(s.back()))
    s.remove_suffix(1);
  return s;
}

/// Appends `value` with each run of spaces and tabs replaced by one space.
void append_collapsed(std::string& out, std::string_view value) {
  bool in_run = false;
  for (char c : value) {
    if (!blank(c))
      out += c;
    else if (!in_run)
      out += ' ';
    in_run = blank(c);
  }
}

/// Splits `s` at every `sep`, keeping empty parts.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos)
      return parts;
    s.remove_prefix(at + 1);
  }
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : std::string(1, sep)) + p;
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/// Decodes %XX escapes; anything else, '+' included, is taken literally.
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex_digit(s[i + 1])) >= 0 &&
        (lo = hex_digit(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

/// RFC 3986 encoding with upper-case hex, as SigV4 requires.
std::string uri_encoded(std::string_view s, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string hex(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

/// The query's parameters in order, keys and values percent-decoded.
std::vector<std::pair<std::string, std::string>> decoded_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto pair : split(q, '&')) {
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    out.emplace_back(percent_decoded(pair.substr(0, eq)), percent_decoded(value));
  }
  return out;
}

const std::string* find_param(const std::vector<std::pair<std::string, std::string>>& params,
                              std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key)
      return &v;
  return nullptr;
}

// ---- time: proleptic Gregorian calendar, UTC, no locale -------------------

int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int days_in_month(int64_t y, int m) {
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[static_cast<std::size_t>(m - 1)];
}

/// Reads exactly `s.size()` decimal digits.
bool read_digits(std::string_view s, int& out) {
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + (c - '0');
  }
  return !s.empty();
}

bool to_seconds(int y, int mo, int d, int h, int mi, int s, int64_t& out) {
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
    return false;
  out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

/// Strict YYYYMMDD'T'HHMMSS'Z'.
bool parse_amz_date(std::string_view s, int64_t& out) {
  int y, mo, d, h, mi, se;
  return s.size() == 16 && s[8] == 'T' && s[15] == 'Z' && read_digits(s.substr(0, 4), y) &&
         read_digits(s.substr(4, 2), mo) && read_digits(s.substr(6, 2), d) &&
         read_digits(s.substr(9, 2), h) && read_digits(s.substr(11, 2), mi) &&
         read_digits(s.substr(13, 2), se) && to_seconds(y, mo, d, h, mi, se, out);
}

/// RFC 1123 (IMF-fixdate): "Sun, 30 Aug 2015 12:36:00 GMT". The day name must be one, not
/// the right one: the 2011 AWS test suite dates Friday 9 Sep 2011 "Mon".
bool parse_http_date(std::string_view s, int64_t& out) {
  static constexpr std::string_view weekdays = "MonTueWedThuFriSatSun";
  static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return false;
  auto weekday = weekdays.find(s.substr(0, 3));
  auto month = months.find(s.substr(8, 3));
  int y, d, h, mi, se;
  return weekday != std::string_view::npos && weekday % 3 == 0 && month != std::string_view::npos &&
         month % 3 == 0 && read_digits(s.substr(5, 2), d) && read_digits(s.substr(12, 4), y) &&
         read_digits(s.substr(17, 2), h) && read_digits(s.substr(20, 2), mi) &&
         read_digits(s.substr(23, 2), se) &&
         to_seconds(y, static_cast<int>(month / 3) + 1, d, h, mi, se, out);
}

std::string format_amz_date(int64_t t) {
  int64_t z = t / 86400 - (t % 86400 < 0 ? 1 : 0);
  int64_t secs = t - z * 86400;
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04lld%02lld%02lldT%02lld%02lld%02lldZ", (long long)y,
                (long long)m, (long long)d, (long long)(secs / 3600), (long long)(secs / 60 % 60),
                (long long)(secs % 60));
  return buf;
}

// ---- reading a claim ------------------------------------------------------

std::optional<api_error> read_scope(std::string_view credential, credential_scope& out) {
  auto parts = split(credential, '/');
  if (parts.size() != 5)
    return incomplete("Credential must have exactly 5 slash-delimited elements, e.g. "
                      "keyid/date/region/service/term, got '" +
                      std::string{credential} + "'");
  if (parts[4] != terminator)
    return invalid("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                   std::string{parts[4]} + "'.");
  out = {std::string{parts[0]}, std::string{parts[1]}, std::string{parts[2]},
         std::string{parts[3]}};
  return std::nullopt;
}

std::optional<api_error> read_signed_headers(std::string_view list, std::vector<std::string>& out) {
  for (auto name : split(list, ';')) {
    if (name.empty())
      return incomplete("SignedHeaders must be header names separated by ';', got '" +
                        std::string{list} + "'.");
    out.push_back(lowered(name));
  }
  return std::nullopt;
}

std::optional<api_error> read_algorithm(std::string_view got) {
  if (got == algorithm)
    return std::nullopt;
  return incomplete("Unsupported AWS 'algorithm': '" + std::string{got} +
                    "'. Only 'AWS4-HMAC-SHA256' is supported.");
}

/// The Credential, SignedHeaders and Signature of an Authorization header's value.
struct header_params {
  std::optional<std::string_view> credential, signed_headers, signature;
};

std::optional<api_error> read_header_params(std::string_view list, header_params& out) {
  for (auto part : split(list, ',')) {
    part = trimmed(part);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return incomplete("Invalid key=value pair (missing equal-sign) in Authorization header: '" +
                        std::string{part} + "'.");
    auto key = part.substr(0, eq);
    auto* slot = key == "Credential"      ? &out.credential
                 : key == "SignedHeaders" ? &out.signed_headers
                 : key == "Signature"     ? &out.signature
                                          : nullptr;
    if (slot && *slot)
      return incomplete("Authorization header has more than one '" + std::string{key} +
                        "' parameter.");
    if (slot && eq + 1 < part.size())
      *slot = part.substr(eq + 1);
  }
  return std::nullopt;
}

/// The request time of a header-signed request: X-Amz-Date, else an RFC 1123 Date.
std::optional<api_error> read_header_date(const http_request& req, std::string& out) {
  int64_t t = 0;
  if (auto amz = req.header("X-Amz-Date"); !amz.empty()) {
    if (!parse_amz_date(amz, t))
      return incomplete(bad_amz_date(amz));
    out = std::string{amz};
    return std::nullopt;
  }
  auto date = req.header("Date");
  if (!parse_http_date(date, t))
    return incomplete("Date must be in RFC 1123 format, e.g. 'Sun, 30 Aug 2015 12:36:00 GMT', "
                      "when X-Amz-Date is absent. Got '" +
                      std::string{date} + "'.");
  out = format_amz_date(t);
  return std::nullopt;
}

std::optional<api_error> read_header_claim(const http_request& req, std::string_view auth,
                                           claim& out) {
  auto space = auth.find(' ');
  if (auto e = read_algorithm(auth.substr(0, space)))
    return e;
  header_params p;
  auto rest = space == std::string_view::npos ? std::string_view{} : auth.substr(space + 1);
  if (auto e = read_header_params(rest, p))
    return e;
  std::string missing;
  for (auto [name, value] :
       {std::pair{"Credential", p.credential}, std::pair{"Signature", p.signature},
        std::pair{"SignedHeaders", p.signed_headers}})
    if (!value)
      missing += "Authorization header requires '" + std::string{name} + "' parameter. ";
  if (req.header("X-Amz-Date").empty() && req.header("Date").empty())
    missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
               "header. ";
  if (!missing.empty())
    return incomplete(missing + "Authorization=" + std::string{auth});
  if (auto e = read_scope(*p.credential, out.scope))
    return e;
  if (auto e = read_signed_headers(*p.signed_headers, out.signed_headers))
    return e;
  out.signature = std::string{*p.signature};
  return read_header_date(req, out.amz_date);
}

std::optional<api_error> read_expires(std::string_view text, int64_t& out) {
  int value = 0;
  if (text.size() > 9 || !read_digits(text, value))
    return incomplete("X-Amz-Expires should be a number, got '" + std::string{text} + "'.");
  if (value > max_expires_s)
    return incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800");
  out = value;
  return std::nullopt;
}

std::optional<api_error>
read_query_claim(const std::vector<std::pair<std::string, std::string>>& params, claim& out) {
  static constexpr std::array<std::string_view, 6> required{
      "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Signature",
      "X-Amz-Date",      "X-Amz-SignedHeaders", "X-Amz-Expires"};
  std::string missing;
  for (auto name : required)
    if (!find_param(params, name))
      missing += (missing.empty() ? "'" : ", '") + std::string{name} + "'";
  if (!missing.empty())
    return incomplete("AWS query-string parameters must include 'X-Amz-Algorithm', "
                      "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', "
                      "'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the query-string "
                      "parameters. Missing: " +
                      missing + ".");
  out.presigned = true;
  out.amz_date = *find_param(params, "X-Amz-Date");
  out.signature = *find_param(params, "X-Amz-Signature");
  int64_t t = 0;
  if (auto e = read_algorithm(*find_param(params, "X-Amz-Algorithm")))
    return e;
  if (auto e = read_scope(*find_param(params, "X-Amz-Credential"), out.scope))
    return e;
  if (auto e = read_signed_headers(*find_param(params, "X-Amz-SignedHeaders"), out.signed_headers))
    return e;
  if (!parse_amz_date(out.amz_date, t))
    return incomplete(bad_amz_date(out.amz_date));
  return read_expires(*find_param(params, "X-Amz-Expires"), out.expires_s);
}

// ---- verifying a claim ----------------------------------------------------

std::optional<api_error> check_scope(const claim& c, std::string_view region,
                                     std::string_view service) {
  std::string wrong;
  if (c.scope.region != region)
    wrong += "Credential should be scoped to a valid region, not '" + c.scope.region +
             "' (expected '" + std::string{region} + "'). ";
  if (c.scope.service != service)
    wrong += "Credential should be scoped to correct service: '" + std::string{service} + "'. ";
  auto http_date = c.amz_date.substr(0, 8);
  if (c.scope.date != http_date)
    wrong += "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
             "from HTTP: '" +
             c.scope.date + "' != '" + http_date + "', from '" + c.amz_date + "'. ";
  if (wrong.empty())
    return std::nullopt;
  wrong.pop_back();
  return invalid(std::move(wrong));
}

std::optional<api_error> check_skew(int64_t t, int64_t now_s) {
  if (t < now_s - max_skew_s)
    return invalid("Signature expired: " + format_amz_date(t) + " is now earlier than " +
                   format_amz_date(now_s - max_skew_s) + " (" + format_amz_date(now_s) +
                   " - 5 min.)");
  if (t > now_s + max_skew_s)
    return invalid("Signature not yet current: " + format_amz_date(t) + " is still later than " +
                   format_amz_date(now_s + max_skew_s) + " (" + format_amz_date(now_s) +
                   " + 5 min.)");
  return std::nullopt;
}

std::optional<api_error> check_expiry(int64_t t, int64_t expires_s, int64_t now_s) {
  if (expires_s < 0 || expires_s > max_expires_s)
    return incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800");
  if (now_s < t)
    return invalid("Signature not yet current: " + format_amz_date(t) + " is still later than " +
                   format_amz_date(now_s) + " (now).");
  if (now_s > t + expires_s)
    return invalid("Signature expired: " + format_amz_date(t + expires_s) +
                   " is now earlier than " + format_amz_date(now_s) + " (" + format_amz_date(t) +
                   " + X-Amz-Expires " + std::to_string(expires_s) + " s).");
  return std::nullopt;
}

/// After the signature matched: the X-Amz-Content-Sha256 it covered must be the body's.
std::optional<api_error> check_payload(std::string_view declared, const std::string& body_hash,
                                       bool presigned) {
  if (declared.empty())
    return std::nullopt;
  if (declared == unsigned_payload && !presigned)
    return content_mismatch("x-amz-content-sha256 'UNSIGNED-PAYLOAD' is accepted only on "
                            "presigned requests; send the body's SHA-256.");
  if (declared == unsigned_payload || iequals(declared, body_hash))
    return std::nullopt;
  return content_mismatch("The provided 'x-amz-content-sha256' header does not match what was "
                          "computed. Header: '" +
                          std::string{declared} + "', body: '" + body_hash + "'.");
}

std::string scope_text(const credential_scope& s) {
  return s.date + "/" + s.region + "/" + s.service + "/" + std::string{terminator};
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

/// The headers `sign` covers: host, content-type and x-amz-*, lower-case and sorted.
std::vector<std::string> names_to_sign(const http_request& req) {
  std::set<std::string> names;
  for (const auto& h : req.headers) {
    auto name = lowered(h.name);
    if (name == "host" || name == "content-type" || name.rfind("x-amz-", 0) == 0)
      names.insert(std::move(name));
  }
  return {names.begin(), names.end()};
}

} // namespace

std::optional<int64_t> amz_date_seconds(std::string_view amz_date) {
  int64_t t = 0;
  if (!parse_amz_date(amz_date, t))
    return std::nullopt;
  return t;
}

std::optional<api_error> read_claim(const http_request& req, claim& out) {
  out = claim{};
  auto auth = req.header("Authorization");
  auto params = decoded_query(req.query());
  bool query_form = find_param(params, "X-Amz-Signature") ||
                    find_param(params, "X-Amz-Algorithm") || find_param(params, "X-Amz-Credential");
  if (auth.empty() && !query_form)
    return api_error{403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  if (!auth.empty() && query_form)
    return incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                      "parameter or the Authorization header should be specified.");
  return query_form ? read_query_claim(params, out) : read_header_claim(req, auth, out);
}

const std::string& signing_key_memo::get(std::string_view secret, const credential_scope& s) {
  auto wanted = s.date + "/" + s.region + "/" + s.service;
  if (wanted != scope) {
    key = signing_key(secret, s);
    scope = std::move(wanted);
  }
  return key;
}

std::optional<api_error> verify(const http_request& req, const claim& c, std::string_view secret,
                                std::string_view region, std::string_view service, int64_t now_s,
                                signing_key_memo* memo) {
  int64_t t = 0;
  if (!parse_amz_date(c.amz_date, t))
    return incomplete(bad_amz_date(c.amz_date));
  if (auto e = check_scope(c, region, service))
    return e;
  if (auto e = c.presigned ? check_expiry(t, c.expires_s, now_s) : check_skew(t, now_s))
    return e;
  if (std::find(c.signed_headers.begin(), c.signed_headers.end(), "host") == c.signed_headers.end())
    return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  auto declared = req.header("X-Amz-Content-Sha256");
  auto body_hash = hex_sha256(req.body);
  auto payload_hash = declared.empty() ? body_hash : std::string{declared};
  auto to_sign = string_to_sign(c, canonical_request(req, c, payload_hash));
  auto expected = memo ? hex_signature(memo->get(secret, c.scope), to_sign)
                       : hex_signature(signing_key(secret, c.scope), to_sign);
  if (expected.size() != c.signature.size() ||
      CRYPTO_memcmp(expected.data(), c.signature.data(), expected.size()) != 0)
    return invalid("The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details.");
  return check_payload(declared, body_hash, c.presigned);
}

void sign(http_request& req, std::string_view access_key_id, std::string_view secret,
          std::string_view region, std::string_view service, int64_t now_s) {
  auto& hs = req.headers;
  hs.erase(std::remove_if(hs.begin(), hs.end(),
                          [](const http_header& h) {
                            return iequals(h.name, "X-Amz-Date") ||
                                   iequals(h.name, "Authorization");
                          }),
           hs.end());
  claim c;
  c.amz_date = format_amz_date(now_s);
  c.scope = {std::string{access_key_id}, c.amz_date.substr(0, 8), std::string{region},
             std::string{service}};
  hs.push_back({"X-Amz-Date", c.amz_date});
  c.signed_headers = names_to_sign(req);
  auto declared = req.header("X-Amz-Content-Sha256");
  auto payload_hash = declared.empty() ? hex_sha256(req.body) : std::string{declared};
  auto signature = hex_signature(signing_key(secret, c.scope),
                                 string_to_sign(c, canonical_request(req, c, payload_hash)));
  hs.push_back({"Authorization", std::string{algorithm} + " Credential=" + c.scope.access_key_id +
                                     "/" + scope_text(c.scope) + ", SignedHeaders=" +
                                     join(c.signed_headers, ';') + ", Signature=" + signature});
}

std::string canonical_uri(std::string_view raw_path) {
  std::vector<std::string_view> segments;
  for (auto segment : split(raw_path, '/')) {
    if (segment.empty() || segment == ".")
      continue;
    if (segment != "..")
      segments.push_back(segment);
    else if (!segments.empty())
      segments.pop_back();
  }
  std::string path = raw_path.empty() || raw_path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < segments.size(); ++i)
    path += (i ? "/" : "") + std::string{segments[i]};
  if (!segments.empty() && raw_path.back() == '/')
    path += '/';
  return uri_encoded(path, true);
}

std::string canonical_query(std::string_view raw_query, bool drop_signature) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [key, value] : decoded_query(raw_query))
    if (!(drop_signature && key == "X-Amz-Signature"))
      encoded.emplace_back(uri_encoded(key, false), uri_encoded(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded)
    out += (out.empty() ? "" : "&") + key + "=" + value;
  return out;
}

std::string canonical_headers(const http_request& req,
                              const std::vector<std::string>& signed_names) {
  std::string out;
  for (const auto& name : signed_names) {
    out += name + ":";
    bool first = true;
    for (const auto& h : req.headers) {
      if (!iequals(h.name, name))
        continue;
      if (!first)
        out += ',';
      first = false;
      append_collapsed(out, trimmed(h.value));
    }
    out += '\n';
  }
  return out;
}

std::string canonical_request(const http_request& req, const claim& c,
                              std::string_view payload_hash) {
  return req.method + "\n" + canonical_uri(req.path()) + "\n" +
         canonical_query(req.query(), c.presigned) + "\n" +
         canonical_headers(req, c.signed_headers) + "\n" + join(c.signed_headers, ';') + "\n" +
         std::string{payload_hash};
}

std::string string_to_sign(const claim& c, std::string_view canonical_request) {
  return std::string{algorithm} + "\n" + c.amz_date + "\n" + scope_text(c.scope) + "\n" +
         hex_sha256(canonical_request);
}

std::string signing_key(std::string_view secret, const credential_scope& scope) {
  auto key = hmac_sha256("AWS4" + std::string{secret}, scope.date);
  key = hmac_sha256(key, scope.region);
  key = hmac_sha256(key, scope.service);
  return hmac_sha256(key, terminator);
}

std::string hex_signature(std::string_view signing_key, std::string_view string_to_sign) {
  return hex(hmac_sha256(signing_key, string_to_sign));
}

std::string hex_sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

} // namespace troupe::net::sigv4
