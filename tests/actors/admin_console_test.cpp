#include "actors/admin.hpp"
#include "actors/admin_console.hpp"
#include "actors/node_config.hpp"

#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::console {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> words(const std::string& line) {
  std::string error;
  auto w = split_words(line, error);
  EXPECT_TRUE(w) << line << ": " << error;
  return w ? *w : std::vector<std::string>{};
}

TEST(AdminConsole, SplitsWordsAsAShellWould) {
  using v = std::vector<std::string>;
  EXPECT_EQ(words("  hosts  "), v{"hosts"});
  EXPECT_EQ(words("invoke echo '{\"a\": 1}'"), (v{"invoke", "echo", "{\"a\": 1}"}));
  EXPECT_EQ(words("invoke echo \"say \\\"hi\\\"\""), (v{"invoke", "echo", "say \"hi\""}));
  EXPECT_EQ(words("a\\ b c''d"), (v{"a b", "cd"}));
  EXPECT_EQ(words("x ''"), (v{"x", ""})); // an empty quoted word is a word
  EXPECT_EQ(words(""), v{});
  std::string error;
  EXPECT_FALSE(split_words("invoke echo '{", error));
  EXPECT_EQ(error, "unclosed '");
}

TEST(AdminConsole, EveryCommandHasAUniqueNameAndAUsage) {
  std::set<std::string> names;
  for (const auto& c : commands()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_EQ(c.usage.rfind(c.name, 0), 0u) << c.usage;
    EXPECT_FALSE(c.summary.empty()) << c.name;
  }
  for (auto expected :
       {"status", "hosts", "functions", "function", "deploy", "invoke", "concurrency", "drain",
        "undrain", "breakers", "queues", "dlq", "redrive", "logs", "tenants", "key", "help"})
    EXPECT_EQ(names.count(expected), 1u) << expected;
}

TEST(AdminConsole, WrongArgumentsNeverReachTheCluster) {
  int sent = 0;
  transport send = [&](admin_request) {
    ++sent;
    return admin_reply{200, "{}", {}};
  };
  std::ostringstream out, err;
  options opt;
  for (auto line : {"hosts extra", "invoke", "drain", "logs f -x", "key rotate acme",
                    "concurrency f -1", "deploy f", "deploy f dir --memory", "nosuch"}) {
    err.str("");
    EXPECT_FALSE(run(words(line), opt, send, out, err)) << line;
    EXPECT_FALSE(err.str().empty()) << line;
  }
  EXPECT_EQ(sent, 0);
}

TEST(AdminConsole, AnErrorAnswerIsShownWithItsStatusAndType) {
  transport send = [](admin_request r) {
    EXPECT_EQ(r.target, "/2015-03-31/functions/nope");
    EXPECT_EQ(r.tenant, "acme");
    return admin_reply{404,
                       R"({"Type":"User","Message":"Function not found: nope"})",
                       {{"X-Amzn-ErrorType", "ResourceNotFoundException"}}};
  };
  std::ostringstream out, err;
  options opt;
  opt.tenant = "acme";
  EXPECT_FALSE(run(words("function nope"), opt, send, out, err));
  EXPECT_EQ(err.str(), "error: Function not found: nope (404 ResourceNotFoundException)\n");
  EXPECT_EQ(out.str(), "");
}

TEST(AdminConsole, ADeployThatCannotTellWhetherTheFunctionExistsChangesNothing) {
  auto zip = fs::temp_directory_path() / ("troupe-zip-" + std::to_string(getpid()) + ".zip");
  std::ofstream{zip} << "PK not really a zip, never sent";
  std::vector<std::string> methods;
  transport send = [&](admin_request r) {
    methods.push_back(r.method);
    return admin_reply{503, R"({"Type":"Service","Message":"no control plane"})", {}};
  };
  std::ostringstream out, err;
  EXPECT_FALSE(run(words("deploy f " + zip.string()), options{}, send, out, err));
  EXPECT_EQ(methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(err.str(), "error: no control plane (503 Service)\n");
  fs::remove(zip);
}

TEST(AdminConsole, ALostConnectionFailsTheCommand) {
  transport send = [](admin_request) { return admin_reply{0, "the connection was lost", {}}; };
  std::ostringstream out, err;
  EXPECT_FALSE(run(words("hosts"), options{}, send, out, err));
  EXPECT_EQ(err.str(), "error: the connection was lost\n");
}

TEST(AdminConsole, ADirectoryIsZippedWithItsModes) {
  auto dir = fs::temp_directory_path() / ("troupe-zip-" + std::to_string(getpid()));
  fs::create_directories(dir / "lib");
  std::ofstream{dir / "bootstrap"} << "#!/bin/sh\necho hi\n";
  std::ofstream{dir / "lib" / "data.txt"} << "data";
  fs::permissions(dir / "bootstrap", fs::perms(0755));
  std::string error;
  auto zip = zip_directory(dir.string(), error);
  ASSERT_FALSE(zip.empty()) << error;
  std::map<std::string, std::pair<std::string, int>> got;
  auto* a = archive_read_new();
  archive_read_support_format_zip(a);
  ASSERT_EQ(archive_read_open_memory(a, zip.data(), zip.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string data(static_cast<size_t>(archive_entry_size(e)), '\0');
    archive_read_data(a, data.data(), data.size());
    got[archive_entry_pathname(e)] = {data, archive_entry_perm(e)};
  }
  archive_read_free(a);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(got["bootstrap"].first, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(got["bootstrap"].second, 0755);
  EXPECT_EQ(got["lib/data.txt"].first, "data");
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_EQ(zip_directory(dir.string(), error), "");
  EXPECT_NE(error.find("holds no files"), std::string::npos);
  fs::remove_all(dir);
}

TEST(AdminToken, OnlyTheSameTokenPasses) {
  EXPECT_TRUE(same_token("0123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcdeX", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcde", "0123456789abcdef"));
  EXPECT_FALSE(same_token("0123456789abcdef0", "0123456789abcdef"));
  EXPECT_FALSE(same_token("", ""));
}

TEST(AdminToken, TheNodeRefusesAConsoleWithoutAToken) {
  node_config cfg;
  cfg.admin_listen = "127.0.0.1:0";
  cfg.admin_plaintext = true;
  EXPECT_NE(cfg.cluster_problem().find("admin.listen needs admin.token-file"), std::string::npos);
  auto file = fs::temp_directory_path() / ("troupe-token-" + std::to_string(getpid()));
  std::ofstream{file} << "short\n";
  cfg.admin_token_file = file.string();
  EXPECT_NE(cfg.cluster_problem().find("shorter than 16"), std::string::npos);
  std::ofstream{file} << "  a-long-enough-token  \n";
  EXPECT_EQ(cfg.cluster_problem(), "");
  std::string error;
  EXPECT_EQ(read_admin_token(file.string(), error), "a-long-enough-token");
  cfg.admin_plaintext = false;
  EXPECT_NE(cfg.cluster_problem().find("needs TLS"), std::string::npos);
  cfg.roles = "ingress";
  cfg.cluster_controller = "127.0.0.1:1";
  cfg.cluster_plaintext = true;
  EXPECT_NE(cfg.cluster_problem().find("admin.listen is for the controller's node"),
            std::string::npos);
  fs::remove(file);
}

} // namespace
} // namespace troupe::console
