#include "../storage/test_support.hpp"
#include "actors/api_mapping.hpp"
#include "actors/controller.hpp"
#include "actors/instance_env.hpp"
#include "actors/node_config.hpp"
#include "actors/protocol/errc.hpp"
#include "actors/registry_codec.hpp"
#include "storage/digest.hpp"
#include "storage/kv_store.hpp"
#include "storage/package_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace troupe;

namespace {

function_config sample() {
  function_config cfg;
  cfg.name = "f";
  cfg.runtime = "python3.11";
  cfg.handler = "app.handler";
  cfg.memory_mb = 256;
  cfg.timeout_s = 7;
  cfg.environment = {{"GREETING", "hi"}, {"AWS_REGION", "fake"}};
  cfg.code_sha256 = std::string(64, 'a');
  cfg.code_size = 42;
  cfg.revision_id = "r1";
  return cfg;
}

bool has(const std::vector<std::string>& env, const std::string& kv) {
  return std::find(env.begin(), env.end(), kv) != env.end();
}

} // namespace

template_inputs inputs() {
  return {"/init", "/run/pool", "/rt", 64, 77, 200000, 10};
}

TEST(InstanceEnv, PythonAndNodeTemplatesPrestartTheTroupeBootstrap) {
  auto py = template_for("python3", 256, inputs());
  EXPECT_EQ(py.prestart_argv.back(), "/var/runtime/bootstrap.py");
  EXPECT_EQ(py.runtime_dir, "/rt/python3");
  auto js = template_for("nodejs", 256, inputs());
  EXPECT_EQ(js.prestart_argv,
            (std::vector<std::string>{"/usr/bin/node", "/var/runtime/bootstrap.js"}));
  EXPECT_EQ(js.runtime_dir, "/rt/nodejs");
  for (const auto& t : {py, js}) {
    EXPECT_EQ(t.init_path, "/init");
    EXPECT_EQ(t.run_dir, "/run/pool");
    EXPECT_EQ(t.tmp_bytes, 64ull << 20);
    EXPECT_TRUE(has(t.prestart_env, "LAMBDA_TASK_ROOT=/var/task"));
    // Nothing of any function is known to a template.
    for (const auto& kv : t.prestart_env)
      EXPECT_NE(kv.rfind("AWS_", 0), 0u) << kv;
  }
}

TEST(InstanceEnv, ProvidedTemplateWaitsToExecTheBootstrapFromTheCode) {
  auto t = template_for("provided", 128, inputs());
  EXPECT_TRUE(t.prestart_argv.empty());
  EXPECT_EQ(t.runtime_dir, "");
  auto spec = make_sandbox_spec(sample(), {"/code", "local", "127.0.0.1:9001"});
  EXPECT_EQ(spec.argv, std::vector<std::string>{"/var/task/bootstrap"});
  EXPECT_EQ(spec.code_dir, "/code");
  EXPECT_TRUE(spec.capture_output);
}

TEST(InstanceEnv, EachSandboxGetsItsOwnUidFromTheHostsRange) {
  auto t = template_for("provided", 128, inputs());
  EXPECT_EQ(t.uid_base, 200000u);
  EXPECT_EQ(t.uid_count, 10u);
}

TEST(InstanceEnv, LambdaVariablesAreSetAndWinOverTheFunctions) {
  auto spec = make_sandbox_spec(sample(), {"/code", "eu-1", "127.0.0.1:9001"});
  EXPECT_TRUE(has(spec.env, "GREETING=hi"));
  EXPECT_TRUE(has(spec.env, "_HANDLER=app.handler"));
  EXPECT_TRUE(has(spec.env, "LAMBDA_TASK_ROOT=/var/task"));
  EXPECT_TRUE(has(spec.env, "AWS_LAMBDA_FUNCTION_NAME=f"));
  EXPECT_TRUE(has(spec.env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"));
  EXPECT_TRUE(has(spec.env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"));
  // The function's AWS_REGION does not shadow the platform's.
  EXPECT_FALSE(has(spec.env, "AWS_REGION=fake"));
  auto first = std::find_if(spec.env.begin(), spec.env.end(),
                            [](const std::string& kv) { return kv.rfind("AWS_REGION=", 0) == 0; });
  ASSERT_NE(first, spec.env.end());
  EXPECT_EQ(*first, "AWS_REGION=eu-1");
}

TEST(InstanceEnv, EveryDefinedRuntimeVariableOfLambdaIsSet) {
  spec_inputs in{"/code", "eu-1", "127.0.0.1:9001"};
  in.instance_id = "abc123";
  in.now_ms = 1'714'521'600'000; // 2024-05-01
  auto spec = make_sandbox_spec(sample(), in);
  for (const char* kv :
       {"_HANDLER=app.handler", "AWS_REGION=eu-1", "AWS_DEFAULT_REGION=eu-1",
        "AWS_EXECUTION_ENV=AWS_Lambda_python3.11", "AWS_LAMBDA_FUNCTION_NAME=f",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/f",
        "AWS_LAMBDA_LOG_STREAM_NAME=2024/05/01/[$LATEST]abc123",
        "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "LAMBDA_TASK_ROOT=/var/task",
        "LAMBDA_RUNTIME_DIR=/var/runtime", "TZ=:UTC", "LANG=C.UTF-8", "PYTHONPATH=/var/runtime",
        "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
        "LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:"
        "/opt/lib"})
    EXPECT_TRUE(has(spec.env, kv)) << kv;
  // No credentials: Troupe has no execution roles.
  for (const auto& kv : spec.env) {
    EXPECT_NE(kv.rfind("AWS_ACCESS_KEY_ID=", 0), 0u) << kv;
    EXPECT_NE(kv.rfind("AWS_SESSION_TOKEN=", 0), 0u) << kv;
    EXPECT_NE(kv.rfind("NODE_PATH=", 0), 0u) << "python: " << kv;
  }
}

TEST(InstanceEnv, UnreservedVariablesAreTheFunctionsToReplace) {
  auto cfg = sample();
  cfg.runtime = "nodejs20.x";
  cfg.environment = {{"PATH", "/var/task/bin:/usr/bin"}, {"TZ", "Europe/Paris"}};
  auto spec = make_sandbox_spec(cfg, {"/code", "eu-1", "127.0.0.1:9001"});
  auto count = [&](const std::string& prefix) {
    return std::count_if(spec.env.begin(), spec.env.end(),
                         [&](const std::string& kv) { return kv.rfind(prefix, 0) == 0; });
  };
  EXPECT_TRUE(has(spec.env, "PATH=/var/task/bin:/usr/bin"));
  EXPECT_EQ(count("PATH="), 1);
  EXPECT_TRUE(has(spec.env, "TZ=:UTC")) << "TZ is reserved";
  EXPECT_EQ(count("TZ="), 1);
  EXPECT_TRUE(has(spec.env, "NODE_PATH=/opt/nodejs/node_modules:/var/runtime/node_modules:"
                            "/var/runtime:/var/task"));
  cfg.runtime = "provided.al2023";
  spec = make_sandbox_spec(cfg, {"/code", "eu-1", "127.0.0.1:9001"});
  EXPECT_EQ(count("AWS_EXECUTION_ENV="), 0) << "Lambda names no runtime for OS-only ones";
}

TEST(InstanceEnv, TheRuntimeClientVariableSelectsTheRicVariant) {
  auto cfg = sample();
  cfg.runtime = "nodejs20.x";
  EXPECT_EQ(template_family(cfg), "nodejs");
  cfg.environment[std::string{runtime_client_variable}] = "aws-lambda-ric";
  EXPECT_EQ(template_family(cfg), "nodejs-ric");
  cfg.environment[std::string{runtime_client_variable}] = "something-else";
  EXPECT_EQ(template_family(cfg), "nodejs");
  cfg.runtime = "python3.12";
  cfg.environment[std::string{runtime_client_variable}] = "aws-lambda-ric";
  EXPECT_EQ(template_family(cfg), "python3") << "no RIC variant of python3 (yet)";
  auto t = template_for("nodejs-ric", 128, inputs());
  EXPECT_EQ(t.runtime_dir, "/rt/nodejs-ric");
  EXPECT_EQ(t.prestart_argv,
            (std::vector<std::string>{"/usr/bin/node", "/var/runtime/bootstrap.mjs"}));
  EXPECT_NE(std::find(runtime_families().begin(), runtime_families().end(), "nodejs-ric"),
            runtime_families().end());
}

TEST(InstanceEnv, CgroupLimitsFollowMemorySize) {
  auto t = template_for("python3", 256, inputs());
  EXPECT_EQ(t.memory_bytes, 256ull << 20);
  EXPECT_EQ(t.pids_max, 77u);
  EXPECT_EQ(t.cpu_weight, 25u);
  EXPECT_EQ(cpu_weight_for(128), 12u);
  EXPECT_EQ(cpu_weight_for(1024), 100u);
  EXPECT_EQ(cpu_weight_for(10240), 1000u);
  EXPECT_EQ(cpu_weight_for(0), 1u);
}

TEST(ApiMapping, ErrcMapsToLambdaStatusAndType) {
  auto e = to_api_error(make_error(errc::function_not_found, "Function not found: f"));
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.type, "ResourceNotFoundException");
  EXPECT_EQ(e.message, "Function not found: f");
  EXPECT_EQ(to_api_error(make_error(errc::function_exists, "")).status, 409);
  EXPECT_EQ(to_api_error(make_error(errc::too_many_requests, "")).status, 429);
  EXPECT_EQ(to_api_error(make_error(errc::no_capacity, "")).status, 503);
  EXPECT_EQ(to_api_error(make_error(errc::sandbox_failed, "")).status, 500);
  EXPECT_EQ(to_api_error(caf::make_error(caf::sec::request_timeout)).status, 504);
}

TEST(ApiMapping, FunctionErrorsAre200WithTheHeader) {
  auto r = invoke_response({true, R"({"errorType":"X"})", false}, "id-1");
  EXPECT_EQ(r.status, 200);
  auto it = std::find_if(r.headers.begin(), r.headers.end(), [](const net::http_header& h) {
    return h.name == "X-Amz-Function-Error";
  });
  ASSERT_NE(it, r.headers.end());
  EXPECT_EQ(it->value, "Unhandled");
  auto ok = invoke_response({false, "{}", false}, "id-2");
  EXPECT_TRUE(std::none_of(ok.headers.begin(), ok.headers.end(), [](const net::http_header& h) {
    return h.name == "X-Amz-Function-Error";
  }));
}

TEST(RegistryCodec, RoundTripsAndRejectsGarbage) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto in = sample();
  auto bytes = encode(sys, in);
  auto out = decode_function(sys, bytes);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->name, in.name);
  EXPECT_EQ(out->environment, in.environment);
  EXPECT_EQ(out->memory_mb, 256);
  EXPECT_FALSE(decode_function(sys, ""));
  EXPECT_FALSE(decode_function(sys, "\x07garbage"));
  placement p{"i-1", "f", "host-1", "ready", 5, 2, "127.0.0.1:7701", "t"};
  auto back = decode_placement(sys, encode(sys, p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, "ready");
  EXPECT_EQ(back->slots, 2);
  EXPECT_EQ(back->tenant, "t");
}

TEST(RegistryCodec, FunctionsOfTheFirstFormatAreReadAsTheDefaultTenants) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto in = sample();
  std::vector<char> buf; // as version 1 wrote it: every field but the tenant
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(in.name, in.runtime, in.handler, in.description, in.memory_mb, in.timeout_s,
                    in.environment, in.code_sha256, in.code_size, in.last_modified_ms,
                    in.revision_id));
  auto out = decode_function(sys, std::string(1, '\x01') + std::string(buf.begin(), buf.end()));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->name, in.name);
  EXPECT_EQ(out->revision_id, in.revision_id);
  EXPECT_EQ(out->tenant, "default");
  in.tenant = "acme";
  auto now = decode_function(sys, encode(sys, in));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->tenant, "acme");
}

TEST(RegistryCodec, FunctionsOfTheSecondFormatHaveNoReservedConcurrency) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto in = sample();
  in.tenant = "acme";
  std::vector<char> buf; // as version 2 wrote it: every field but the reservation
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(in.name, in.runtime, in.handler, in.description, in.memory_mb, in.timeout_s,
                    in.environment, in.code_sha256, in.code_size, in.last_modified_ms,
                    in.revision_id, in.tenant));
  auto out = decode_function(sys, std::string(1, '\x02') + std::string(buf.begin(), buf.end()));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->tenant, "acme");
  EXPECT_EQ(out->reserved_concurrency, -1);
  in.reserved_concurrency = 7;
  std::vector<char> v3; // as version 3 wrote it: without the EventInvokeConfig
  caf::binary_serializer sink3{sys, v3};
  ASSERT_FALSE(sink3(in.name, in.runtime, in.handler, in.description, in.memory_mb, in.timeout_s,
                     in.environment, in.code_sha256, in.code_size, in.last_modified_ms,
                     in.revision_id, in.tenant, in.reserved_concurrency));
  auto third = decode_function(sys, std::string(1, '\x03') + std::string(v3.begin(), v3.end()));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->reserved_concurrency, 7);
  EXPECT_FALSE(third->has_event_invoke_config());
  in.async_max_retries = 1;
  in.async_max_age_s = 600;
  auto now = decode_function(sys, encode(sys, in));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->reserved_concurrency, 7);
  EXPECT_EQ(now->async_max_retries, 1);
  EXPECT_EQ(now->async_max_age_s, 600);
}

/// `in` as version 5 wrote it: every field but the package.
std::string function_v5(caf::actor_system& sys, const function_config& in) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto x = in;
  if (sink(x.name, x.runtime, x.handler, x.description, x.memory_mb, x.timeout_s, x.environment,
           x.code_sha256, x.code_size, x.last_modified_ms, x.revision_id, x.tenant,
           x.reserved_concurrency, x.async_max_retries, x.async_max_age_s, x.version,
           x.last_version))
    throw std::runtime_error("cannot encode");
  return std::string(1, '\x05') + std::string(buf.begin(), buf.end());
}

TEST(RegistryCodec, FunctionsOfTheFifthFormatHaveNoPackageYet) {
  node_config cfg;
  caf::actor_system sys{cfg};
  auto in = sample();
  in.version = "3";
  auto old = decode_function(sys, function_v5(sys, in));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->version, "3");
  EXPECT_EQ(old->code_sha256, in.code_sha256);
  EXPECT_EQ(old->package, "");
  in.package = std::string(64, 'c');
  auto now = decode_function(sys, encode(sys, in));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->package, in.package);
}

TEST(ControllerUpgrade, FunctionsRegisteredBeforePackagesGetOneBuiltFromTheirArchive) {
  namespace fs = std::filesystem;
  auto root = fs::temp_directory_path() / ("troupe-upgrade-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "code");
  node_config cfg;
  caf::actor_system sys{cfg};
  namespace st = storage::test;
  auto zip = st::build_archive(st::archive_format::zip,
                               {st::file("app.py", "def handler(e, c):\n  return 1\n")});
  auto kept = sample();
  kept.code_sha256 = storage::to_hex(storage::sha256(zip));
  std::ofstream{root / "code" / (kept.code_sha256 + ".archive"), std::ios::binary} << zip;
  auto lost = sample(); // its archive is gone: it stays without a package, and is logged
  lost.name = "g";
  lost.code_sha256 = std::string(64, 'b');
  {
    std::string error;
    auto kv = storage::open_rocksdb_store((root / "db").string(), error);
    ASSERT_TRUE(kv) << error;
    ASSERT_EQ(kv->put(function_key(kept.id()), function_v5(sys, kept)), "");
    ASSERT_EQ(kv->put(function_key(lost.id()), function_v5(sys, lost)), "");
    storage::package_store packages{root / "packages"};
    controller_settings cs;
    cs.legacy_code = root / "code";
    auto ctl = spawn_controller(sys, *kv, packages, cs, {});
    caf::scoped_actor self{sys};
    auto lookup = [&](const function_config& f) {
      function_config got;
      self->request(ctl, caf::infinite, lookup_atom::value, f.id())
          .receive([&](function_config& x) { got = std::move(x); },
                   [&](caf::error& e) { ADD_FAILURE() << sys.render(e); });
      return got;
    };
    auto upgraded = lookup(kept);
    EXPECT_EQ(upgraded.code_sha256, kept.code_sha256); // the API's CodeSha256 is the archive's
    ASSERT_EQ(upgraded.package.size(), 64u);
    EXPECT_TRUE(packages.complete(upgraded.package));
    ASSERT_NE(packages.index(upgraded.package)->find("app.py"), nullptr);
    EXPECT_EQ(lookup(lost).package, "");
    self->send_exit(ctl, caf::exit_reason::user_shutdown);
    self->wait_for(ctl);
  }
  fs::remove_all(root);
}

TEST(RegistryCodec, EventsRoundTripAndThoseOfTheSecondFormatAreRead) {
  node_config cfg;
  caf::actor_system sys{cfg};
  async_event ev;
  ev.id = "e-1";
  ev.function = "f";
  ev.payload = "{}";
  ev.attempts = 2;
  ev.max_retries = 0;
  ev.max_age_ms = 60'000;
  auto back = decode_event(sys, encode(sys, ev));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->attempts, 2);
  EXPECT_EQ(back->max_retries, 0);
  EXPECT_EQ(back->max_age_ms, 60'000);
  std::vector<char> buf; // as version 2 wrote it
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(ev.id, ev.function, ev.payload, ev.enqueued_ms, ev.attempts,
                    ev.function_error_retries, ev.next_ms, ev.last_error, ev.dead_reason,
                    ev.dead_ms));
  auto old = decode_event(sys, std::string(1, '\x02') + std::string(buf.begin(), buf.end()));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->id, "e-1");
  EXPECT_EQ(old->max_retries, -1);
  EXPECT_FALSE(decode_event(sys, "\x09junk"));
}

TEST(NodeConfig, RolesAndDefaults) {
  node_config cfg;
  EXPECT_TRUE(cfg.has_role("ingress"));
  EXPECT_TRUE(cfg.has_role("host"));
  EXPECT_TRUE(cfg.has_role("gateway"));
  const char* argv[] = {"troupe-node", "--node.roles=host", "--ingress.port=9999"};
  ASSERT_FALSE(cfg.parse(3, const_cast<char**>(argv)));
  EXPECT_FALSE(cfg.has_role("ingress"));
  EXPECT_FALSE(cfg.has_role("gateway"));
  EXPECT_EQ(cfg.ingress_port, 9999);
}
