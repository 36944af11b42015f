// libFuzzer target: SigV4 (net/sigv4.hpp). A fuzzed request goes through
// read_claim, the canonical forms and verify, as the API's authentication runs
// them; then the round trip: whatever request sign() signs, verify() accepts,
// except for the two refusals that do not depend on the signature (a query
// that also carries presigned parameters, an X-Amz-Content-Sha256 that is not
// the body's hash).
//
// Input, as text (seeds read like the AWS SigV4 test suite's requests):
//   METHOD TARGET\n
//   Name:value\n ...      (one header a line, split at the first ':')
//   \n
//   body

#include "tests/fuzz/fuzz_check.hpp"

#include "net/sigv4.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>

namespace troupe::fuzz {
namespace {

using namespace troupe::net;

constexpr int64_t suite_time_s = 1440938160; // 20150830T123600Z, the AWS test suite's
constexpr int64_t max_time_s = 253402300799; // 9999-12-31T23:59:59Z: 4-digit years
constexpr std::string_view key_id = "AKIDEXAMPLE";
constexpr std::string_view secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string_view take_line(std::string_view& text) {
  auto nl = text.find('\n');
  auto line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  return line;
}

http_request parse_request(std::string_view text) {
  http_request req;
  auto line = take_line(text);
  auto space = line.find(' ');
  req.method = std::string{line.substr(0, space)};
  req.target = space == std::string_view::npos ? "" : std::string{line.substr(space + 1)};
  while (!text.empty()) {
    line = take_line(text);
    if (line.empty())
      break;
    auto colon = line.find(':');
    req.headers.push_back(
        {std::string{line.substr(0, colon)},
         colon == std::string_view::npos ? "" : std::string{line.substr(colon + 1)}});
  }
  req.body = std::string{text};
  return req;
}

bool is_percent_encoded(std::string_view s, std::string_view also) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 std::string_view("-_.~").find(c) != std::string_view::npos ||
                 also.find(c) != std::string_view::npos;
    if (plain)
      continue;
    if (c != '%' || i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      return false;
    i += 2;
  }
  return true;
}

/// The server's path: read the claim, verify it with a secret, at a time.
void verify_as_server(const http_request& req) {
  FUZZ_CHECK(is_percent_encoded(sigv4::canonical_uri(req.path()), "/"));
  FUZZ_CHECK(is_percent_encoded(sigv4::canonical_query(req.query(), false), "=&"));
  FUZZ_CHECK(is_percent_encoded(sigv4::canonical_query(req.query(), true), "=&"));
  sigv4::claim c;
  if (auto e = sigv4::read_claim(req, c)) {
    FUZZ_CHECK(e->status == 400 || e->status == 403);
    return;
  }
  sigv4::canonical_headers(req, c.signed_headers);
  auto claimed = std::clamp(sigv4::amz_date_seconds(c.amz_date).value_or(suite_time_s), int64_t{0},
                            max_time_s);
  // The claim's own scope and time (so the signature comparison is reached),
  // then a fixed server's, a little later.
  for (auto [region, service, now] :
       {std::tuple{std::string_view{c.scope.region}, std::string_view{c.scope.service}, claimed},
        std::tuple{std::string_view{"us-east-1"}, std::string_view{"lambda"},
                   std::min(claimed + 299, max_time_s)}})
    if (auto e = sigv4::verify(req, c, secret, region, service, now))
      FUZZ_CHECK(e->status == 400 || e->status == 403);
}

/// What a client can sign: header names are HTTP tokens (a server's parser
/// admits no others), a Host header is present.
http_request signable(http_request req) {
  std::vector<http_header> kept;
  bool host = false;
  for (auto& h : req.headers)
    if (is_token(h.name)) {
      host = host || iequals(h.name, "host");
      kept.push_back(std::move(h));
    }
  if (!host)
    kept.push_back({"Host", "lambda.us-east-1.amazonaws.com"});
  req.headers = std::move(kept);
  return req;
}

void round_trip(http_request req) {
  req = signable(std::move(req));
  auto now = std::clamp(sigv4::amz_date_seconds(req.header("X-Amz-Date")).value_or(suite_time_s),
                        int64_t{0}, max_time_s);
  sigv4::sign(req, key_id, secret, "us-east-1", "lambda", now);

  auto params = query_parameters(req.query());
  bool presigned_too = params.count("X-Amz-Signature") || params.count("X-Amz-Algorithm") ||
                       params.count("X-Amz-Credential");
  sigv4::claim c;
  auto read = sigv4::read_claim(req, c);
  if (presigned_too) {
    FUZZ_CHECK(read && read->type == "IncompleteSignatureException");
    return;
  }
  FUZZ_CHECK(!read);
  FUZZ_CHECK(c.scope.access_key_id == key_id && !c.presigned);

  auto declared = req.header("X-Amz-Content-Sha256");
  bool payload_mismatch = !declared.empty() && (declared == "UNSIGNED-PAYLOAD" ||
                                                !iequals(declared, sigv4::hex_sha256(req.body)));
  auto verified = sigv4::verify(req, c, secret, "us-east-1", "lambda", now);
  if (payload_mismatch) {
    FUZZ_CHECK(verified && verified->type == "XAmzContentSHA256Mismatch");
  } else {
    if (verified)
      std::fprintf(stderr, "verify refused a signed request: %s: %s\n", verified->type.c_str(),
                   verified->message.c_str());
    FUZZ_CHECK(!verified);
  }
  // A different secret never verifies.
  FUZZ_CHECK(sigv4::verify(req, c, "another secret", "us-east-1", "lambda", now));
}

} // namespace
} // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace troupe::fuzz;
  auto req = parse_request(as_text(data, size));
  verify_as_server(req);
  round_trip(std::move(req));
  return 0;
}
