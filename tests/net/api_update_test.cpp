// The management API's newer requests: function references (names, ARNs,
// qualifiers), UpdateFunctionConfiguration and UpdateFunctionCode bodies, and
// the tenants file.
#include "net/lambda_api.hpp"
#include "net/tenants_file.hpp"

#include <gtest/gtest.h>

using namespace troupe::net;

namespace {

function_config existing() {
  function_config cfg;
  cfg.name = "f";
  cfg.runtime = "python3.11";
  cfg.handler = "m.h";
  cfg.environment = {{"OLD", "1"}};
  return cfg;
}

} // namespace

TEST(FunctionRef, NamesArnsAndQualifiers) {
  function_ref ref;
  EXPECT_FALSE(parse_function_ref("my-fn", ref));
  EXPECT_EQ(ref.name, "my-fn");
  EXPECT_EQ(ref.qualifier, "");
  EXPECT_EQ(ref.account, "");
  EXPECT_FALSE(parse_function_ref("my-fn:$LATEST", ref));
  EXPECT_EQ(ref.name, "my-fn");
  EXPECT_EQ(ref.qualifier, "$LATEST");
  EXPECT_FALSE(parse_function_ref("arn:aws:lambda:us-east-1:123456789012:function:f1", ref));
  EXPECT_EQ(ref.name, "f1");
  EXPECT_EQ(ref.qualifier, "");
  EXPECT_EQ(ref.region, "us-east-1");
  EXPECT_EQ(ref.account, "123456789012");
  EXPECT_FALSE(parse_function_ref("arn:aws:lambda:us-east-1:123456789012:function:f1:prod", ref));
  EXPECT_EQ(ref.qualifier, "prod");
  EXPECT_FALSE(parse_function_ref("123456789012:function:f2", ref));
  EXPECT_EQ(ref.name, "f2");
  EXPECT_EQ(ref.account, "123456789012");
  EXPECT_EQ(ref.region, "");

  const std::string too_long(65, 'x'); // named: a temporary would end before the loop runs
  for (std::string_view bad :
       {std::string_view{""}, std::string_view{"a b"}, std::string_view{"arn:aws:s3:::bucket"},
        std::string_view{"f:q:extra"}, std::string_view{"arn:aws:lambda:r:1:function:"},
        std::string_view{"f:"}, std::string_view{too_long}})
    EXPECT_TRUE(parse_function_ref(bad, ref)) << bad;
}

TEST(AccountId, TwelveDigitsStablePerTenant) {
  EXPECT_EQ(account_id("default"), "000000000000");
  auto a = account_id("alpha");
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.find_first_not_of("0123456789"), std::string::npos);
  EXPECT_EQ(a, account_id("alpha"));
  EXPECT_NE(a, account_id("beta"));
}

TEST(UpdateFunctionConfiguration, ChangesOnlyWhatTheBodyNames) {
  auto cfg = existing();
  std::string revision;
  ASSERT_FALSE(parse_update_configuration(
      R"({"MemorySize":256,"Timeout":30,"Description":"d","RevisionId":"r1","Role":"x"})", cfg,
      revision));
  EXPECT_EQ(cfg.memory_mb, 256);
  EXPECT_EQ(cfg.timeout_s, 30);
  EXPECT_EQ(cfg.description, "d");
  EXPECT_EQ(cfg.handler, "m.h");
  EXPECT_EQ(cfg.environment.count("OLD"), 1u) << "no Environment: variables stay";
  EXPECT_EQ(revision, "r1");

  ASSERT_FALSE(
      parse_update_configuration(R"({"Environment":{"Variables":{"NEW":"2"}}})", cfg, revision));
  EXPECT_EQ(cfg.environment, (std::map<std::string, std::string>{{"NEW", "2"}}))
      << "Environment replaces all variables";
  EXPECT_EQ(revision, "");
}

TEST(UpdateFunctionConfiguration, RefusesWhatCreateFunctionRefuses) {
  std::string revision;
  for (auto body : {R"({"MemorySize":200})", R"({"Timeout":0})", R"({"Runtime":"cobol"})",
                    R"({"Handler":"nodot"})", R"({"Environment":{"Variables":{"AWS_REGION":"x"}}})",
                    R"({"MemorySize":"big"})", "[]", "not json"}) {
    auto cfg = existing();
    auto err = parse_update_configuration(body, cfg, revision);
    ASSERT_TRUE(err) << body;
    EXPECT_EQ(err->status, 400);
    EXPECT_EQ(err->type, "InvalidParameterValueException");
  }
}

TEST(UpdateFunctionCode, NeedsAZipAndRefusesOtherSources) {
  update_code_request req;
  ASSERT_FALSE(parse_update_code(R"({"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==","DryRun":true,)"
                                 R"("RevisionId":"r","Architectures":["x86_64"]})",
                                 req));
  EXPECT_EQ(req.archive.size(), 22u);
  EXPECT_TRUE(req.dry_run);
  EXPECT_EQ(req.revision, "r");
  EXPECT_FALSE(req.publish);
  update_code_request publish;
  ASSERT_FALSE(parse_update_code(R"({"ZipFile":"UEsFBg==","Publish":true})", publish));
  EXPECT_TRUE(publish.publish);
  for (auto body :
       {R"({})", R"({"ZipFile":"!!"})", R"({"S3Bucket":"b","S3Key":"k"})", R"({"ImageUri":"x"})",
        R"({"ZipFile":"UEsFBg==","Publish":"yes"})", R"({"ZipFile":"UEsFBg==","DryRun":"yes"})"}) {
    update_code_request r;
    auto err = parse_update_code(body, r);
    ASSERT_TRUE(err) << body;
    EXPECT_EQ(err->status, 400) << body;
  }
}

TEST(TenantsFile, ReadsTenantsKeysAndOperators) {
  std::vector<credential> keys;
  ASSERT_FALSE(parse_tenants_file(R"({"tenants":[
      {"name":"alpha","keys":[{"id":"AKIDALPHA00000000001","secret":"alpha-secret-0000001"},
                              {"id":"AKIDALPHA00000000002","secret":"alpha-secret-0000002"}]},
      {"name":"ops","keys":[{"id":"AKIDOPS0000000000001","secret":"ops-secret-000000001"}],
       "operator":true}]})",
                                  keys));
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[1].tenant, "alpha");
  EXPECT_EQ(keys[1].key_id, "AKIDALPHA00000000002");
  EXPECT_EQ(keys[1].secret, "alpha-secret-0000002");
  EXPECT_FALSE(keys[0].operator_access);
  EXPECT_TRUE(keys[2].operator_access) << "operator may follow keys";
}

TEST(TenantsFile, RefusesWhatCouldNotSignSafely) {
  std::vector<credential> keys;
  const std::string good_key = R"({"id":"AKIDALPHA00000000001","secret":"alpha-secret-0000001"})";
  for (
      std::string body :
      {std::string{"[]"}, std::string{R"({"tenants":{}})"}, std::string{R"({"other":[]})"},
       R"({"tenants":[{"name":"a b","keys":[)" + good_key + "]}]}",
       std::string{
           R"({"tenants":[{"name":"a","keys":[{"id":"short","secret":"long-enough-secret"}]}]})"},
       std::string{
           R"({"tenants":[{"name":"a","keys":[{"id":"AKIDALPHA00000000001","secret":"short"}]}]})"},
       std::string{R"({"tenants":[{"name":"a"}]})"},
       R"({"tenants":[{"name":"a","keys":[)" + good_key + "]},{\"name\":\"b\",\"keys\":[" +
           good_key + "]}]}",
       R"({"tenants":[{"name":"a","colour":"red","keys":[)" + good_key + "]}]}"}) {
    auto err = parse_tenants_file(body, keys);
    EXPECT_TRUE(err) << body;
    EXPECT_TRUE(keys.empty()) << body;
  }
}

TEST(PublishVersion, ReadsItsOptionalFields) {
  publish_version_request req;
  EXPECT_FALSE(parse_publish_version("", req)) << "an empty body is fine";
  // base64 of 32 bytes 0x00..0x1f
  ASSERT_FALSE(parse_publish_version(
      R"({"CodeSha256":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","Description":"d","RevisionId":"r"})",
      req));
  EXPECT_EQ(req.code_sha256, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  EXPECT_EQ(req.description, "d");
  EXPECT_EQ(req.revision, "r");
  for (auto body : {R"({"CodeSha256":"short"})", R"({"Other":1})", R"({"Description":5})"}) {
    publish_version_request r;
    EXPECT_TRUE(parse_publish_version(body, r)) << body;
  }
}

TEST(Alias, CreateNeedsANameAndAVersion) {
  alias_config a;
  ASSERT_FALSE(parse_alias(
      R"({"Name":"live","FunctionVersion":"3","Description":"d",
          "RoutingConfig":{"AdditionalVersionWeights":{"4":0.25}}})",
      true, a));
  EXPECT_EQ(a.name, "live");
  EXPECT_EQ(a.function_version, "3");
  EXPECT_EQ(a.additional_version, "4");
  EXPECT_DOUBLE_EQ(a.additional_weight, 0.25);
  EXPECT_NE(
      render_alias(a, "alpha", "f", {"us-east-1"}).find(R"("AdditionalVersionWeights":{"4":0.25})"),
      std::string::npos);

  alias_config update;
  ASSERT_FALSE(parse_alias(R"({"RevisionId":"r1","RoutingConfig":{}})", false, update))
      << "an update may leave out Name and FunctionVersion";
  EXPECT_EQ(update.revision_id, "r1");
  EXPECT_TRUE(update.additional_version.empty()) << "an empty RoutingConfig removes the split";

  for (
      auto body :
      {R"({"FunctionVersion":"1"})", R"({"Name":"123","FunctionVersion":"1"})",
       R"({"Name":"a","FunctionVersion":"01"})", R"({"Name":"a","FunctionVersion":"x"})",
       R"({"Name":"a"})",
       R"({"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}})",
       R"({"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"$LATEST":0.5}}})",
       R"({"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1,"3":0.1}}})",
       R"({"Name":"a","FunctionVersion":"1","Surprise":true})"}) {
    alias_config bad;
    auto err = parse_alias(body, true, bad);
    ASSERT_TRUE(err) << body;
    EXPECT_EQ(err->status, 400) << body;
  }
}

TEST(Alias, PickVersionSplitsByWeight) {
  alias_config a;
  a.function_version = "1";
  EXPECT_EQ(pick_version(a, 0.0), "1") << "no split: always the primary";
  a.additional_version = "2";
  a.additional_weight = 0.3;
  EXPECT_EQ(pick_version(a, 0.0), "2");
  EXPECT_EQ(pick_version(a, 0.2999), "2");
  EXPECT_EQ(pick_version(a, 0.3), "1");
  EXPECT_EQ(pick_version(a, 0.9999), "1");
  a.additional_weight = 0;
  EXPECT_EQ(pick_version(a, 0.0), "1") << "weight 0 never picks the additional version";
}
