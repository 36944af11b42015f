#pragma once

#include "actors/protocol/admin.hpp"

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

/// The commands of troupe-admin: what each asks of the cluster's admin actor
/// and how its answer is shown. Knows nothing of connections or terminals.
namespace troupe::console {

/// Splits a command line into words: blanks separate them, '...' and "..."
/// quote, a backslash takes the next character as it is. nullopt (and
/// `error` set) for an unclosed quote.
std::optional<std::vector<std::string>> split_words(const std::string& line, std::string& error);

/// One command, as `help` shows it.
struct command_info {
  std::string name;
  std::string usage;   ///< e.g. "logs NAME [-f]"
  std::string summary; ///< one line
  /// What its arguments name, for completion: "function", "host" or "".
  std::string completes;
};

/// Every command, in the order `help` lists them.
const std::vector<command_info>& commands();

/// Sends one request (the token filled in) and returns the answer; a lost
/// or refused connection comes back as status 0 with the reason in `body`.
using transport = std::function<admin_reply(admin_request)>;

struct options {
  std::string tenant = "default"; ///< whose functions the function commands act on
  bool json = false;              ///< print the API's JSON documents, not tables
  /// For `logs -f`: true while following should go on (Ctrl-C clears it).
  std::function<bool()> keep_following = [] { return true; };
  int follow_interval_ms = 1000;
  bool terminal = false; ///< output goes to a terminal: `watch` redraws in place
};

/// Runs one command (its words, as split_words gives them), writing what it
/// shows to `out` and what went wrong to `err`. Returns whether it succeeded:
/// an unknown command, wrong arguments, an answer of 400 or more, a lost
/// connection and a function's own error are failures.
bool run(const std::vector<std::string>& words, const options& opt, const transport& send,
         std::ostream& out, std::ostream& err);

/// The names `send` knows for what a command's argument `completes`
/// ("function": the tenant's functions; "host": the hosts); empty on failure.
std::vector<std::string> names_of(const std::string& completes, const options& opt,
                                  const transport& send);

/// A zip archive of the regular files under `dir` (paths relative to it,
/// modes kept), for a deploy of a directory; "" with `error` set on failure.
std::string zip_directory(const std::string& dir, std::string& error);

} // namespace troupe::console
