#pragma once

#include "net/http_types.hpp"
#include "net/lambda_api.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// AWS Signature Version 4 (AWS4-HMAC-SHA256): verifying the requests the AWS
/// SDKs and CLI send to the Lambda API, and signing requests the same way.
///
/// A server calls `read_claim`, looks up the secret of `claim.scope.access_key_id`
/// itself (an unknown key is its refusal, not this module's), then `verify`.
/// Refusals carry AWS's error types and, where known, AWS's messages:
///   403 MissingAuthenticationTokenException  no Authorization header, no X-Amz-Signature
///   400 IncompleteSignatureException         malformed or incomplete claim, bad dates
///   403 InvalidSignatureException            wrong scope, clock skew, expiry, host not
///                                            signed, signature mismatch
///   400 XAmzContentSHA256Mismatch            X-Amz-Content-Sha256 is not the body's hash
///                                            (S3's code: Lambda documents none)
///
/// Rules chosen where AWS leaves room:
/// - the request time is X-Amz-Date (strict YYYYMMDD'T'HHMMSS'Z'); only when it is
///   absent, an RFC 1123 `Date` header (as botocore sends when given one);
/// - header-signed requests may be 5 minutes early or late; presigned ones are good
///   from X-Amz-Date to X-Amz-Date + X-Amz-Expires (at most 604800 s), inclusive;
/// - the path is normalised and encoded once more, as the SDKs do for every service
///   but S3; query keys and values are percent-decoded ('+' stays '+') and re-encoded.
namespace troupe::net::sigv4 {

/// The credential a request names: AKID/date/region/service/aws4_request.
struct credential_scope {
  std::string access_key_id;
  std::string date; ///< YYYYMMDD
  std::string region;
  std::string service;
};

/// What a signed request claims, from its Authorization header or its presigned query.
struct claim {
  credential_scope scope;
  std::string amz_date;                    ///< YYYYMMDD'T'HHMMSS'Z'
  std::vector<std::string> signed_headers; ///< lower-case, as listed
  std::string signature;                   ///< hex
  bool presigned = false;                  ///< from X-Amz-* query parameters
  int64_t expires_s = 0;                   ///< presigned only: X-Amz-Expires
};

/// Reads the claim of `req`: the header form "AWS4-HMAC-SHA256 Credential=AKID/20150830/
/// us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex" (the three
/// in any order, whitespace after the commas allowed), or the query form X-Amz-Algorithm,
/// X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature.
/// Fills `out`, or returns the refusal (a request carrying both forms is refused).
std::optional<api_error> read_claim(const http_request& req, claim& out);

/// The last signing key derived from one secret, and the scope it is for. A key
/// stays the same for a whole day (date, region, service), so a server that
/// keeps one per access key spends four HMACs a day on it instead of on every
/// request (about 45% of a verification).
struct signing_key_memo {
  std::string scope; ///< "date/region/service" of `key` ("" before the first)
  std::string key;
  const std::string& get(std::string_view secret, const credential_scope& s);
};

/// Checks `c` against `req` with the secret of c.scope.access_key_id, the server's region
/// and service, and the current time in seconds since the epoch. Returns the refusal, or
/// nullopt when the request is authentic. The signature is compared in constant time.
/// With `memo` (that access key's), the signing key is derived only when the scope changes.
std::optional<api_error> verify(const http_request& req, const claim& c, std::string_view secret,
                                std::string_view region, std::string_view service, int64_t now_s,
                                signing_key_memo* memo = nullptr);

/// Signs `req` in place as the AWS SDKs do: replaces X-Amz-Date (set to `now_s`) and
/// Authorization, signs Host plus every x-amz-* and Content-Type header present. Adds no
/// X-Amz-Content-Sha256 (one already present is signed and used as the payload hash).
/// `req` must carry a Host header. For tests and clients.
void sign(http_request& req, std::string_view access_key_id, std::string_view secret,
          std::string_view region, std::string_view service, int64_t now_s);

// Building blocks, exposed for tests.

/// The canonical URI of a path as sent, as @smithy/signature-v4 does for non-S3 services:
/// drops empty and "." segments, resolves "..", keeps the leading and a trailing "/", then
/// URI-encodes the result once more ("%3A" becomes "%253A"), keeping "/". "" gives "/".
std::string canonical_uri(std::string_view raw_path);

/// The canonical query string of a query as sent (without '?'): each key and value
/// percent-decoded, re-encoded with the RFC 3986 unreserved set kept, "key=" for empty
/// values, sorted by key then value, joined with '&'. `drop_signature` leaves out
/// X-Amz-Signature (presigned requests).
std::string canonical_query(std::string_view raw_query, bool drop_signature);

/// "name:value\n" for each name of `signed_names` in order: values trimmed, inner runs of
/// spaces and tabs collapsed to one space, repeated headers joined with ','.
std::string canonical_headers(const http_request& req,
                              const std::vector<std::string>& signed_names);

/// The canonical request of `req` as claimed by `c`, hashing the payload as `payload_hash`.
std::string canonical_request(const http_request& req, const claim& c,
                              std::string_view payload_hash);

/// "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex sha256>".
std::string string_to_sign(const claim& c, std::string_view canonical_request);

/// The raw 32-byte signing key: HMAC chain over "AWS4"+secret, date, region, service,
/// "aws4_request".
std::string signing_key(std::string_view secret, const credential_scope& scope);

/// The hex signature: HMAC-SHA256 of `string_to_sign` keyed with `signing_key`.
std::string hex_signature(std::string_view signing_key, std::string_view string_to_sign);

/// Lower-case hex SHA-256 of `data`.
std::string hex_sha256(std::string_view data);

/// Seconds since the epoch of a strict YYYYMMDD'T'HHMMSS'Z' (X-Amz-Date), or nullopt.
std::optional<int64_t> amz_date_seconds(std::string_view amz_date);

} // namespace troupe::net::sigv4
