#include "net/detail/io_runtime_impl.hpp"

namespace troupe::net {

io_runtime::io_runtime(std::size_t threads) : impl_(std::make_unique<impl>()) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i)
    impl_->threads.emplace_back([this] { impl_->ctx.run(); });
}

io_runtime::~io_runtime() {
  stop();
}

void io_runtime::stop() {
  impl_->work.reset();
  impl_->ctx.stop();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
  impl_->threads.clear();
}

} // namespace troupe::net
