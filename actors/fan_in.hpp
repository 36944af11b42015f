#pragma once

#include <caf/typed_response_promise.hpp>

#include <cstddef>
#include <memory>
#include <vector>

namespace troupe {

/// One reply made of the answers to several requests: each answer's handler
/// adds to `got` and calls one_done() (a failed request only calls it);
/// after the last, the promise gets all of `got`.
template <class T> struct fan_in {
  caf::typed_response_promise<std::vector<T>> rp;
  std::vector<T> got;
  std::size_t waiting = 0;

  void one_done() {
    if (--waiting == 0)
      rp.deliver(std::move(got));
  }
};

/// A fan_in of `self`'s current request, waiting for `answers` (at least
/// one) answers, starting from `got`; shared by the answers' handlers.
template <class T, class Self>
std::shared_ptr<fan_in<T>> make_fan_in(Self* self, std::size_t answers, std::vector<T> got = {}) {
  auto g = std::make_shared<fan_in<T>>();
  g->rp = self->template make_response_promise<std::vector<T>>();
  g->got = std::move(got);
  g->waiting = answers;
  return g;
}

} // namespace troupe
