// net/sigv4: AWS Signature Version 4 against published known-answer vectors, then
// every refusal.
//
// Where the vectors come from (the expected values are theirs, never this code's):
// - [suite]  AWS's Signature Version 4 test suite (2015-08-30 edition), as kept in
//            bazelbuild/bazel third_party/aws-sig-v4-test-suite/ (.req, .creq, .sts, .authz);
// - [fixture] its signatures as the JS SDK v3 signer checks them:
//            smithy-lang/smithy-typescript packages/signature-v4/src/suite.fixture.ts;
// - [crt]    awslabs/aws-c-auth tests/aws-signing-test-suite/v4/ (its canonical requests
//            and its presigned "query-signed-request.txt" vectors);
// - [smithy] smithy-lang/smithy-typescript packages/signature-v4/src/SignatureV4.spec.ts
//            ("URI encoding paths": the non-S3 double encoding);
// - [iam]    AWS General Reference, "Signature Version 4 signing process", Tasks 1-3: the
//            IAM ListUsers example (docs.aws.amazon.com/general/latest/gr/
//            sigv4-calculate-signature.html);
// - [2011]   the 2011 edition of the suite (host.foo.com, signed with a Date header), as
//            botocore and grpc/grpc test/core/security/aws_request_signer_test.cc use it.

#include "net/sigv4.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace troupe::net::sigv4 {
namespace {

/// Who signs and who verifies, and when.
struct party {
  std::string_view akid, secret, region, service;
  int64_t now_s;
};

constexpr party suite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1",
                      "service", 1440938160}; // 2015-08-30T12:36:00Z
constexpr party iam{suite.akid, suite.secret, "us-east-1", "iam", suite.now_s};
constexpr party smithy{"foo", "bar", "us-bar-1", "foo", 946684800}; // 2000-01-01T00:00:00Z
constexpr party lambda{"AKIDEXAMPLE", "secret", "us-east-1", "lambda", 1700000000};

const std::string empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

http_request request(std::string method, std::string target, std::vector<http_header> headers,
                     std::string body = {}) {
  http_request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

/// A request of the 2015 suite: Host example.amazonaws.com and its X-Amz-Date, plus `more`.
http_request suite_request(std::string method, std::string target,
                           std::vector<http_header> more = {}, std::string body = {}) {
  std::vector<http_header> headers{{"Host", "example.amazonaws.com"}};
  headers.insert(headers.end(), more.begin(), more.end());
  headers.push_back({"X-Amz-Date", "20150830T123600Z"});
  return request(std::move(method), std::move(target), std::move(headers), std::move(body));
}

/// The Authorization header of the 2015 suite with `signed_headers` and `signature`.
std::string suite_authz(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         std::string{signed_headers} + ", Signature=" + std::string{signature};
}

std::optional<api_error> check(const http_request& req, const party& p, int64_t now_s) {
  claim c;
  if (auto e = read_claim(req, c))
    return e;
  return verify(req, c, p.secret, p.region, p.service, now_s);
}

std::optional<api_error> check(const http_request& req, const party& p) {
  return check(req, p, p.now_s);
}

::testing::AssertionResult accepted(const std::optional<api_error>& e) {
  if (!e)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << e->status << " " << e->type << ": " << e->message;
}

/// `req` carrying `authz` verifies for `p`.
::testing::AssertionResult verifies(http_request req, std::string_view authz, const party& p) {
  req.headers.push_back({"Authorization", std::string{authz}});
  return accepted(check(req, p));
}

/// The Authorization header `sign` gives `req` for `p`.
std::string signed_authz(http_request req, const party& p) {
  sign(req, p.akid, p.secret, p.region, p.service, p.now_s);
  return std::string{req.header("Authorization")};
}

std::string hex_of(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw)
    out += {digits[c >> 4], digits[c & 15]};
  return out;
}

void expect_refusal(const std::optional<api_error>& e, int status, std::string_view type,
                    std::string_view message_part) {
  ASSERT_TRUE(e) << "accepted, expected " << type;
  EXPECT_EQ(e->status, status) << e->message;
  EXPECT_EQ(e->type, type) << e->message;
  EXPECT_NE(e->message.find(message_part), std::string::npos) << e->message;
}

// ---- the IAM example of the AWS documentation [iam] ------------------------

http_request iam_request() {
  return request("GET", "/?Action=ListUsers&Version=2010-05-08",
                 {{"Host", "iam.amazonaws.com"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"X-Amz-Date", "20150830T123600Z"}});
}

constexpr std::string_view iam_authz =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

TEST(net_sigv4, iam_example_signing_key_and_signature) {
  auto key = signing_key(iam.secret, {"AKIDEXAMPLE", "20150830", "us-east-1", "iam"});
  EXPECT_EQ(hex_of(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(hex_signature(key, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/"
                               "aws4_request\n"
                               "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(net_sigv4, iam_example_request_verifies_and_signs_as_documented) {
  auto req = iam_request();
  req.headers.push_back({"Authorization", std::string{iam_authz}});
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  EXPECT_EQ(c.scope.access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(c.scope.date, "20150830");
  EXPECT_EQ(c.scope.service, "iam");
  EXPECT_EQ(c.amz_date, "20150830T123600Z");
  EXPECT_EQ(c.signed_headers, (std::vector<std::string>{"content-type", "host", "x-amz-date"}));
  EXPECT_FALSE(c.presigned);
  EXPECT_EQ(hex_sha256(canonical_request(req, c, empty_sha256)),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_TRUE(accepted(verify(req, c, iam.secret, iam.region, iam.service, iam.now_s)));
  EXPECT_EQ(signed_authz(iam_request(), iam), iam_authz);
}

// ---- the 2015 suite [suite] [fixture] [crt] ----------------------------------

TEST(net_sigv4, suite_get_vanilla) {
  auto authz = suite_authz("host;x-amz-date",
                           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_TRUE(verifies(suite_request("GET", "/"), authz, suite));
  EXPECT_EQ(signed_authz(suite_request("GET", "/"), suite), authz);
}

TEST(net_sigv4, suite_parameters_in_any_order_and_spacing) {
  auto req = suite_request("GET", "/");
  EXPECT_TRUE(verifies(req,
                       "AWS4-HMAC-SHA256 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956"
                       "d9b8aae1d763fbf31,SignedHeaders=host;x-amz-date,   Credential=AKIDEXAMPLE/"
                       "20150830/us-east-1/service/aws4_request",
                       suite));
}

TEST(net_sigv4, suite_query_sorted_by_key) {
  // get-vanilla-query-order-key-case: GET /?Param2=value2&Param1=value1
  auto authz = suite_authz("host;x-amz-date",
                           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  EXPECT_TRUE(verifies(suite_request("GET", "/?Param2=value2&Param1=value1"), authz, suite));
  EXPECT_EQ(signed_authz(suite_request("GET", "/?Param2=value2&Param1=value1"), suite), authz);
}

TEST(net_sigv4, suite_query_sorted_by_value_within_a_key) {
  // get-vanilla-query-order-key: .creq and .sts given by the suite.
  auto req = suite_request("GET", "/?Param1=value2&Param1=Value1");
  auto authz = suite_authz("host;x-amz-date",
                           "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
  req.headers.push_back({"Authorization", authz});
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  auto creq = canonical_request(req, c, empty_sha256);
  EXPECT_EQ(creq, "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
                  "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                      empty_sha256);
  EXPECT_EQ(string_to_sign(c, creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89");
  EXPECT_TRUE(accepted(check(req, suite)));
}

TEST(net_sigv4, suite_query_encoding) {
  // get-vanilla-query-unreserved, get-vanilla-utf8-query [fixture]; keys sorted as
  // encoded (%E1... before P): get-vanilla-query-order-encoded [crt].
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_TRUE(verifies(suite_request("GET", "/?" + unreserved + "=" + unreserved),
                       suite_authz("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc08"
                                                      "84027167c21bb143a40197"),
                       suite));
  EXPECT_TRUE(verifies(suite_request("GET", "/?%E1%88%B4=bar"),
                       suite_authz("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8"
                                                      "b0a1d91e12c9027818dd04"),
                       suite));
  EXPECT_TRUE(verifies(suite_request("GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
                       suite_authz("host;x-amz-date", "371d3713e185cc334048618a97f809c9ffe339c629"
                                                      "34c032af5a0e595648fcac"),
                       suite));
}

TEST(net_sigv4, query_forms_of_empty_values_and_the_presigned_signature) {
  // Not vectors: the rule as AWS's documentation states it ("key=" for an empty value).
  EXPECT_EQ(canonical_query("b&a=1&&c=", false), "a=1&b=&c=");
  EXPECT_EQ(canonical_query("X-Amz-Signature=ab&X-Amz-Date=1", true), "X-Amz-Date=1");
  EXPECT_EQ(canonical_query("X-Amz-Signature=ab", false), "X-Amz-Signature=ab");
  EXPECT_EQ(canonical_query("a=%zz%4", false), "a=%25zz%254") << "a stray '%' is a character";
  EXPECT_EQ(canonical_query("a=b+c", false), "a=b%2Bc") << "'+' is not a space";
}

TEST(net_sigv4, suite_query_with_reserved_characters) {
  // post-vanilla-query-nonunreserved [fixture]: {"@#$%^": "", "+": "/,?><`\";:\\|][{}"},
  // sent percent-encoded, as an SDK sends it.
  auto target = std::string{"/?%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D"};
  EXPECT_TRUE(verifies(suite_request("POST", target),
                       suite_authz("host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae7"
                                                      "1119d7cb98ed9b87393c1e"),
                       suite));
}

TEST(net_sigv4, suite_post_with_a_body) {
  // post-x-www-form-urlencoded: .creq and .sts given by the suite.
  auto req = suite_request("POST", "/", {{"Content-Type", "application/x-www-form-urlencoded"}},
                           "Param1=value1");
  EXPECT_EQ(hex_sha256(req.body),
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  auto authz = suite_authz("content-type;host;x-amz-date",
                           "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
  EXPECT_EQ(signed_authz(req, suite), authz);
  req.headers.push_back({"Authorization", authz});
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  auto creq = canonical_request(req, c, hex_sha256(req.body));
  EXPECT_EQ(creq, "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example."
                  "amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
                  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(string_to_sign(c, creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_TRUE(accepted(check(req, suite)));

  auto with_charset = suite_request(
      "POST", "/", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
      "Param1=value1"); // post-x-www-form-urlencoded-parameters
  EXPECT_TRUE(
      verifies(with_charset,
               suite_authz("content-type;host;x-amz-date",
                           "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
               suite));
}

TEST(net_sigv4, suite_repeated_headers_are_joined_in_order) {
  // get-header-key-duplicate; canonical headers as in [crt]'s canonical request.
  auto req = suite_request(
      "GET", "/", {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}});
  EXPECT_EQ(canonical_headers(req, {"host", "my-header1"}),
            "host:example.amazonaws.com\nmy-header1:value2,value2,value1\n");
  EXPECT_TRUE(
      verifies(req,
               suite_authz("host;my-header1;x-amz-date",
                           "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
               suite));
}

TEST(net_sigv4, suite_header_values_are_trimmed_and_spaces_collapsed) {
  // get-header-value-trim; canonical headers as in [crt]'s canonical request.
  auto req =
      suite_request("GET", "/", {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}});
  EXPECT_EQ(canonical_headers(req, {"host", "my-header1", "my-header2"}),
            "host:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n");
  EXPECT_TRUE(
      verifies(req,
               suite_authz("host;my-header1;my-header2;x-amz-date",
                           "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
               suite));
}

TEST(net_sigv4, suite_paths_are_normalised) {
  // normalize-path/*; canonical URIs as in [crt]'s *-normalized canonical requests.
  EXPECT_EQ(canonical_uri("//example//"), "/example/");
  EXPECT_EQ(canonical_uri("/./example"), "/example");
  EXPECT_EQ(canonical_uri("/example space/"), "/example%20space/");
  EXPECT_EQ(canonical_uri("/\xE1\x88\xB4"), "/%E1%88%B4");
  auto vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  for (auto path : {"/./", "/example/..", "/example1/example2/../.."})
    EXPECT_TRUE(
        verifies(suite_request("GET", path), suite_authz("host;x-amz-date", vanilla), suite))
        << path;
  EXPECT_TRUE(verifies(suite_request("GET", "//example//"),
                       suite_authz("host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de10"
                                                      "8f0bdfe846570885f57e84"),
                       suite));
  EXPECT_TRUE(verifies(suite_request("GET", "/./example"),
                       suite_authz("host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a1"
                                                      "65a80865db7089db637ec5"),
                       suite));
  EXPECT_TRUE(verifies(
      suite_request("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
      suite_authz("host;x-amz-date",
                  "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
      suite)); // get-unreserved
}

// ---- the non-S3 double encoding [smithy] ------------------------------------

http_request smithy_request(std::string path) {
  return request("POST", std::move(path),
                 {{"Host", "foo.us-bar-1.amazonaws.com"},
                  {"X-Amz-Content-Sha256", empty_sha256},
                  {"X-Amz-Date", "20000101T000000Z"}});
}

TEST(net_sigv4, paths_are_encoded_once_more_as_the_sdks_do_outside_s3) {
  EXPECT_EQ(canonical_uri("/foo%3Dbar"), "/foo%253Dbar");
  const std::string authz =
      "AWS4-HMAC-SHA256 Credential=foo/20000101/us-bar-1/foo/aws4_request, "
      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
      "Signature=fb4948cab44a9c47ce3b1a2489d01ec939fea9e79eccdb4593c11a94f207e075";
  for (auto path : {"/foo%3Dbar", "/abc/../foo%3Dbar", "//foo%3Dbar"})
    EXPECT_TRUE(verifies(smithy_request(path), authz, smithy)) << path;
  EXPECT_EQ(signed_authz(smithy_request("/foo%3Dbar"), smithy), authz);
  // The S3 signer (uriEscapePath: false) signs the path as sent: not this server's rule.
  auto s3_style = smithy_request("/foo%3Dbar");
  s3_style.headers.push_back(
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=foo/20000101/us-bar-1/foo/aws4_request, "
       "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
       "Signature=0d859e5a74374efc2c9f14ba9352df14c68e411a1f44bd639fdd024e5f7b7ef1"});
  expect_refusal(check(s3_style, smithy), 403, "InvalidSignatureException",
                 "does not match the signature you provided");
}

// ---- presigned requests [crt] [smithy] --------------------------------------

http_request presigned_order_encoded() {
  return request("GET",
                 "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request"
                 "&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600"
                 "&X-Amz-Signature="
                 "c5f1848ceec943ac2ca68ee720460c23aaae30a2300586597ada94c4a65e4787",
                 {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}});
}

TEST(net_sigv4, presigned_vector_verifies_within_its_expiry) {
  auto req = presigned_order_encoded();
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  EXPECT_TRUE(c.presigned);
  EXPECT_EQ(c.expires_s, 3600);
  EXPECT_EQ(c.scope.region, "us-east-1");
  EXPECT_EQ(c.signed_headers, std::vector<std::string>{"host"});
  EXPECT_TRUE(accepted(check(req, suite)));
  EXPECT_TRUE(accepted(check(req, suite, suite.now_s + 3600)));
  expect_refusal(check(req, suite, suite.now_s + 3601), 403, "InvalidSignatureException",
                 "Signature expired: 20150830T133600Z is now earlier than 20150830T133601Z");
  expect_refusal(check(req, suite, suite.now_s - 1), 403, "InvalidSignatureException",
                 "Signature not yet current: 20150830T123600Z is still later than");
}

TEST(net_sigv4, presigned_path_is_double_encoded_too) {
  auto req = request("POST",
                     "/foo%3Dbar?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=foo%2F20000101%"
                     "2Fus-bar-1%2Ffoo%2Faws4_request&X-Amz-Date=20000101T000000Z&X-Amz-Expires="
                     "1800&X-Amz-SignedHeaders=host&X-Amz-Signature="
                     "6267d8b6f44d165d2b9f4d2c2b45fd6971de0962820243669bf685818c9c7849",
                     {{"Host", "foo.us-bar-1.amazonaws.com"}});
  EXPECT_TRUE(accepted(check(req, smithy)));
  EXPECT_TRUE(accepted(check(req, smithy, smithy.now_s + 1800)));
  expect_refusal(check(req, smithy, smithy.now_s + 1801), 403, "InvalidSignatureException",
                 "Signature expired");
}

TEST(net_sigv4, presigned_refusals) {
  auto too_long = presigned_order_encoded();
  too_long.target.replace(too_long.target.find("Expires=3600"), 12, "Expires=604801");
  expect_refusal(check(too_long, suite), 400, "IncompleteSignatureException", "604800");
  auto missing = request("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab",
                         {{"Host", "example.amazonaws.com"}});
  expect_refusal(check(missing, suite), 400, "IncompleteSignatureException",
                 "Missing: 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', "
                 "'X-Amz-Expires'.");
  auto both = presigned_order_encoded();
  both.headers.push_back({"Authorization", suite_authz("host", "00")});
  expect_refusal(check(both, suite), 400, "IncompleteSignatureException",
                 "Only one auth mechanism allowed");
  auto tampered = presigned_order_encoded();
  tampered.target.replace(tampered.target.find("Value2"), 6, "Value9");
  expect_refusal(check(tampered, suite), 403, "InvalidSignatureException",
                 "does not match the signature you provided");
}

// ---- a Date header instead of X-Amz-Date [2011] -------------------------------

TEST(net_sigv4, rfc1123_date_header_when_x_amz_date_is_absent) {
  auto req = request(
      "GET", "/",
      {{"Date", "Mon, 09 Sep 2011 23:36:00 GMT"},
       {"Host", "host.foo.com"},
       {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/"
                         "aws4_request, SignedHeaders=date;host, Signature="
                         "b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470"}});
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  EXPECT_EQ(c.amz_date, "20110909T233600Z");
  EXPECT_TRUE(accepted(verify(req, c, suite.secret, "us-east-1", "host", 1315611360)));
  req.headers[0].value = "Mon, 9 Sep 2011 23:36:00 GMT";
  expect_refusal(check(req, suite), 400, "IncompleteSignatureException", "RFC 1123");
  req.headers[0].value = "Xyz, 09 Sep 2011 23:36:00 GMT";
  expect_refusal(check(req, suite), 400, "IncompleteSignatureException", "RFC 1123");
  req.headers[0].value = "Mon, 09 Sep 2011 23:36:00 UTC";
  expect_refusal(check(req, suite), 400, "IncompleteSignatureException", "RFC 1123");
}

// ---- sign, then verify ---------------------------------------------------------

http_request lambda_invoke() {
  return request("POST",
                 "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction"
                 "%3Af/invocations?Qualifier=%24LATEST",
                 {{"Host", "localhost:9000"},
                  {"Content-Type", "application/json"},
                  {"X-Amz-Invocation-Type", "RequestResponse"},
                  {"User-Agent", "test"}},
                 R"({"key":"value"})");
}

http_request signed_invoke() {
  auto req = lambda_invoke();
  sign(req, lambda.akid, lambda.secret, lambda.region, lambda.service, lambda.now_s);
  return req;
}

TEST(net_sigv4, sign_then_verify_round_trip) {
  auto req = signed_invoke();
  EXPECT_EQ(req.header("X-Amz-Date"), "20231114T221320Z");
  claim c;
  ASSERT_TRUE(accepted(read_claim(req, c)));
  EXPECT_EQ(c.signed_headers, (std::vector<std::string>{"content-type", "host", "x-amz-date",
                                                        "x-amz-invocation-type"}));
  EXPECT_EQ(c.scope.access_key_id, "AKIDEXAMPLE");
  EXPECT_TRUE(accepted(verify(req, c, lambda.secret, "us-east-1", "lambda", lambda.now_s + 299)));
  sign(req, lambda.akid, lambda.secret, lambda.region, lambda.service, lambda.now_s + 60);
  EXPECT_EQ(std::count_if(req.headers.begin(), req.headers.end(),
                          [](const http_header& h) { return iequals(h.name, "authorization"); }),
            1)
      << "signing again replaces the signature";
  EXPECT_TRUE(accepted(check(req, lambda, lambda.now_s + 60)));
}

TEST(net_sigv4, any_change_to_a_signed_part_breaks_the_signature) {
  auto mismatch = "The request signature we calculated does not match the signature you provided. "
                  "Check your AWS Secret Access Key and signing method. Consult the service "
                  "documentation for details.";
  auto body = signed_invoke();
  body.body[2] = 'K';
  auto header = signed_invoke();
  for (auto& h : header.headers)
    if (h.name == "X-Amz-Invocation-Type")
      h.value = "Event";
  auto path = signed_invoke();
  path.target.replace(path.target.find("%3Af/"), 5, "%3Ag/");
  auto query = signed_invoke();
  query.target += "&x=1";
  for (const auto* req : {&body, &header, &path, &query}) {
    auto e = check(*req, lambda);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 403);
    EXPECT_EQ(e->type, "InvalidSignatureException");
    EXPECT_EQ(e->message, mismatch);
  }
  auto unsigned_header = signed_invoke();
  unsigned_header.headers.push_back({"User-Agent", "another"});
  EXPECT_TRUE(accepted(check(unsigned_header, lambda))) << "an unsigned header is not covered";
  EXPECT_TRUE(check(signed_invoke(), {"AKIDEXAMPLE", "other", "us-east-1", "lambda", lambda.now_s}))
      << "another secret";
}

TEST(net_sigv4, declared_content_sha256_must_be_the_body_hash) {
  auto req = lambda_invoke();
  req.headers.push_back({"X-Amz-Content-Sha256", hex_sha256(req.body)});
  sign(req, lambda.akid, lambda.secret, lambda.region, lambda.service, lambda.now_s);
  EXPECT_TRUE(accepted(check(req, lambda)));
  req.body += " ";
  expect_refusal(check(req, lambda), 400, "XAmzContentSHA256Mismatch",
                 "The provided 'x-amz-content-sha256' header does not match what was computed.");
  auto unsigned_payload = lambda_invoke();
  unsigned_payload.headers.push_back({"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"});
  sign(unsigned_payload, lambda.akid, lambda.secret, lambda.region, lambda.service, lambda.now_s);
  expect_refusal(check(unsigned_payload, lambda), 400, "XAmzContentSHA256Mismatch",
                 "only on presigned requests");
}

// ---- header-form refusals -------------------------------------------------------

http_request vanilla_with(std::string authz) {
  auto req = suite_request("GET", "/");
  req.headers.push_back({"Authorization", std::move(authz)});
  return req;
}

const std::string vanilla_authz = suite_authz(
    "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");

TEST(net_sigv4, missing_authentication) {
  auto e = check(suite_request("GET", "/"), suite);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 403);
  EXPECT_EQ(e->type, "MissingAuthenticationTokenException");
  EXPECT_EQ(e->message, "Missing Authentication Token");
}

TEST(net_sigv4, incomplete_authorization_names_what_is_missing) {
  auto no_credential = vanilla_with("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=ab");
  expect_refusal(check(no_credential, suite), 400, "IncompleteSignatureException",
                 "Authorization header requires 'Credential' parameter. Authorization=AWS4");
  auto bare = request("GET", "/", {{"Host", "h"}, {"Authorization", "AWS4-HMAC-SHA256"}});
  expect_refusal(check(bare, suite), 400, "IncompleteSignatureException",
                 "Authorization header requires 'Credential' parameter. Authorization header "
                 "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                 "parameter. Authorization header requires existence of either a 'X-Amz-Date' or "
                 "a 'Date' header. Authorization=AWS4-HMAC-SHA256");
  auto no_date =
      request("GET", "/", {{"Host", "example.amazonaws.com"}, {"Authorization", vanilla_authz}});
  expect_refusal(check(no_date, suite), 400, "IncompleteSignatureException",
                 "requires existence of either a 'X-Amz-Date' or a 'Date' header");
}

TEST(net_sigv4, malformed_authorization) {
  auto algorithm = vanilla_authz;
  algorithm.replace(0, 16, "AWS4-HMAC-SHA512");
  expect_refusal(check(vanilla_with(algorithm), suite), 400, "IncompleteSignatureException",
                 "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'");
  expect_refusal(check(vanilla_with("Bearer abc"), suite), 400, "IncompleteSignatureException",
                 "Unsupported AWS 'algorithm': 'Bearer'");
  expect_refusal(
      check(vanilla_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, "
                         "SignedHeaders=host;x-amz-date, Signature=ab"),
            suite),
      400, "IncompleteSignatureException",
      "Credential must have exactly 5 slash-delimited elements, e.g. "
      "keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/service'");
  expect_refusal(check(vanilla_with("AWS4-HMAC-SHA256 Credential, SignedHeaders=host"), suite), 400,
                 "IncompleteSignatureException", "missing equal-sign");
  expect_refusal(check(vanilla_with(suite_authz("host;;x-amz-date", "ab")), suite), 400,
                 "IncompleteSignatureException", "SignedHeaders");
  for (auto date :
       {"2015-08-30T12:36:00Z", "20150830T123600", "20150230T123600Z", "20150830T246000Z"}) {
    auto req = vanilla_with(vanilla_authz);
    req.headers[1].value = date;
    expect_refusal(check(req, suite), 400, "IncompleteSignatureException",
                   "Date must be in ISO-8601 'basic format'. Got '" + std::string{date} + "'");
  }
}

TEST(net_sigv4, credential_scope_must_match_the_server) {
  auto terminator = vanilla_authz;
  terminator.replace(terminator.find("aws4_request"), 12, "aws5_request");
  expect_refusal(check(vanilla_with(terminator), suite), 403, "InvalidSignatureException",
                 "Credential should be scoped with a valid terminator: 'aws4_request', not "
                 "'aws5_request'.");
  expect_refusal(check(vanilla_with(vanilla_authz),
                       {suite.akid, suite.secret, "eu-west-1", "service", suite.now_s}),
                 403, "InvalidSignatureException",
                 "Credential should be scoped to a valid region, not 'us-east-1' (expected "
                 "'eu-west-1').");
  expect_refusal(check(vanilla_with(vanilla_authz),
                       {suite.akid, suite.secret, "us-east-1", "lambda", suite.now_s}),
                 403, "InvalidSignatureException",
                 "Credential should be scoped to correct service: 'lambda'.");
  auto date = vanilla_authz;
  date.replace(date.find("20150830"), 8, "20150831");
  expect_refusal(check(vanilla_with(date), suite), 403, "InvalidSignatureException",
                 "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                 "from HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
}

TEST(net_sigv4, clock_skew_of_five_minutes_either_way) {
  auto req = vanilla_with(vanilla_authz);
  EXPECT_TRUE(accepted(check(req, suite, suite.now_s + 300)));
  EXPECT_TRUE(accepted(check(req, suite, suite.now_s - 300)));
  auto late = check(req, suite, suite.now_s + 600);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 403);
  EXPECT_EQ(late->type, "InvalidSignatureException");
  EXPECT_EQ(late->message, "Signature expired: 20150830T123600Z is now earlier than "
                           "20150830T124100Z (20150830T124600Z - 5 min.)");
  auto early = check(req, suite, suite.now_s - 600);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 403);
  EXPECT_EQ(early->message, "Signature not yet current: 20150830T123600Z is still later than "
                            "20150830T123100Z (20150830T122600Z + 5 min.)");
}

TEST(net_sigv4, host_must_be_signed) {
  auto req = suite_request("GET", "/");
  req.headers.push_back({"Authorization", suite_authz("x-amz-date", "ab")});
  expect_refusal(check(req, suite), 403, "InvalidSignatureException",
                 "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(net_sigv4, wrong_secret_or_signature_is_a_mismatch) {
  expect_refusal(check(vanilla_with(vanilla_authz),
                       {suite.akid, "another secret", "us-east-1", "service", suite.now_s}),
                 403, "InvalidSignatureException", "does not match the signature you provided");
  expect_refusal(check(vanilla_with(suite_authz("host;x-amz-date", "5fa00fa3")), suite), 403,
                 "InvalidSignatureException", "does not match the signature you provided");
}

TEST(net_sigv4, a_memo_derives_the_signing_key_once_a_scope) {
  signing_key_memo memo;
  auto req = vanilla_with(vanilla_authz);
  claim c;
  ASSERT_FALSE(read_claim(req, c));
  for (int i = 0; i < 2; ++i) // the published get-vanilla vector, with the memo fresh and kept
    EXPECT_TRUE(
        accepted(verify(req, c, suite.secret, suite.region, suite.service, suite.now_s, &memo)));
  EXPECT_EQ(memo.scope, "20150830/us-east-1/service");
  EXPECT_EQ(memo.key, signing_key(suite.secret, c.scope));
  // Another day's request: the memo derives that day's key, and the old one is not used.
  auto next_day = suite_request("GET", "/");
  auto tomorrow = suite.now_s + 86400;
  sign(next_day, suite.akid, suite.secret, suite.region, suite.service, tomorrow);
  claim c2;
  ASSERT_FALSE(read_claim(next_day, c2));
  EXPECT_TRUE(
      accepted(verify(next_day, c2, suite.secret, suite.region, suite.service, tomorrow, &memo)));
  EXPECT_EQ(memo.scope, "20150831/us-east-1/service");
  EXPECT_TRUE(verify(next_day, c2, "another secret", suite.region, suite.service, tomorrow))
      << "without the memo, a wrong secret still fails";
}

} // namespace
} // namespace troupe::net::sigv4
