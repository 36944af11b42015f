#pragma once

#include "storage/kv_store.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

/// Changes an actor makes while it drains its mailbox, written to its store
/// together: a group commit, so a burst costs one disk flush, not one each.
/// Only a batch that something waits for is flushed to disk; the others go to
/// the WAL unflushed (they survive a crash of the node, not a power loss).
/// Contract: the owner calls `flush` once after every `stage` that returned
/// true, behind what its mailbox holds (it sends itself a message).
class group_commit {
public:
  using on_written = std::function<void(const std::string& error)>;

  /// Queues a change, and `then` to be told once it is written (or failed).
  /// True when it is the first since the last flush: the caller schedules one.
  bool stage(storage::kv_store::change c, on_written then = {}) {
    changes_.push_back(std::move(c));
    if (then)
      waiting_.push_back(std::move(then));
    return std::exchange(scheduled_, true) == false;
  }

  /// Writes what is staged in one batch and tells those waiting; the error ("": none).
  std::string flush(storage::kv_store& store) {
    scheduled_ = false;
    auto changes = std::exchange(changes_, {});
    auto waiting = std::exchange(waiting_, {});
    auto d = waiting.empty() ? storage::durability::buffered : storage::durability::synced;
    auto error = changes.empty() ? std::string{} : store.write(changes, d);
    for (auto& fn : waiting)
      fn(error);
    return error;
  }

private:
  std::vector<storage::kv_store::change> changes_;
  std::vector<on_written> waiting_;
  bool scheduled_ = false;
};

} // namespace troupe
