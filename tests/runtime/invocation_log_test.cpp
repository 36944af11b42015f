// One invocation's log as Lambda prints it (runtime/invocation_log.cpp), and
// the capture of a sandbox's output (runtime/output_capture.cpp) on a real pipe.
#include "net/io_runtime.hpp"
#include "runtime/invocation_log.hpp"
#include "runtime/output_capture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

namespace troupe::runtime {
namespace {

invocation_report warm() {
  invocation_report r;
  r.request_id = "8f507cfc-1111-4697-b07a-ac58fc914c95";
  r.duration_ms = 2.891;
  r.memory_mb = 128;
  r.max_memory_bytes = 70 * 1024 * 1024 + 1;
  return r;
}

TEST(InvocationLog, ReadsAsLambdasStartEndAndReport) {
  auto log = invocation_log(warm(), "hello\nworld\n");
  EXPECT_EQ(log, "START RequestId: 8f507cfc-1111-4697-b07a-ac58fc914c95 Version: $LATEST\n"
                 "hello\nworld\n"
                 "END RequestId: 8f507cfc-1111-4697-b07a-ac58fc914c95\n"
                 "REPORT RequestId: 8f507cfc-1111-4697-b07a-ac58fc914c95\tDuration: 2.89 ms\t"
                 "Billed Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 71 MB\t\n");
}

TEST(InvocationLog, AColdStartReportsItsInitDuration) {
  auto r = warm();
  r.init_ms = 139.254;
  r.version = "7";
  auto log = invocation_log(r, "");
  EXPECT_NE(log.find("Version: 7\nEND RequestId"), std::string::npos) << log;
  EXPECT_NE(log.find("Max Memory Used: 71 MB\tInit Duration: 139.25 ms\t\n"), std::string::npos)
      << log;
}

TEST(InvocationLog, OutputWithoutANewlineEndsBeforeEnd) {
  auto log = invocation_log(warm(), "partial");
  EXPECT_NE(log.find("\npartial\nEND RequestId"), std::string::npos) << log;
}

TEST(InvocationLog, TimeoutsAndCrashesCarryTheirStatus) {
  auto r = warm();
  r.status = "timeout";
  r.duration_ms = 3000.004;
  EXPECT_NE(invocation_log(r, "").find("Duration: 3000.00 ms\tBilled Duration: 3001 ms"),
            std::string::npos);
  EXPECT_NE(invocation_log(r, "").find("MB\tStatus: timeout\t\n"), std::string::npos);
  r.status = "error";
  r.error_type = "Runtime.ExitError";
  EXPECT_NE(invocation_log(r, "").find("MB\tStatus: error\tError Type: Runtime.ExitError\t\n"),
            std::string::npos);
}

TEST(InvocationLog, BillingRoundsUpAndNeverGoesNegative) {
  auto r = warm();
  r.duration_ms = 1.0;
  EXPECT_NE(invocation_log(r, "").find("Duration: 1.00 ms\tBilled Duration: 1 ms"),
            std::string::npos);
  r.duration_ms = -0.5; // a clock that went backwards must not bill negative time
  EXPECT_NE(invocation_log(r, "").find("Duration: 0.00 ms\tBilled Duration: 0 ms"),
            std::string::npos);
}

TEST(InvocationLog, TailIsTheLastFourKilobytes) {
  std::string log(10000, 'x');
  log += "REPORT";
  EXPECT_EQ(log_tail(log).size(), 4096u);
  EXPECT_EQ(log_tail(log).substr(4090), "REPORT");
  EXPECT_EQ(log_tail("short"), "short");
}

/// A pipe as a sandbox's output: the capture holds the read end.
struct pipe_pair {
  int read_fd = -1, write_fd = -1;
  pipe_pair() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read_fd = fds[0];
    write_fd = fds[1];
    // The writer blocks, as a runtime's stdout does.
    fcntl(write_fd, F_SETFL, fcntl(write_fd, F_GETFL) & ~O_NONBLOCK);
  }
  ~pipe_pair() {
    if (write_fd >= 0)
      close(write_fd);
  }
  void write_all(const std::string& s) const {
    for (size_t done = 0; done < s.size();) {
      auto n = write(write_fd, s.data() + done, s.size() - done);
      ASSERT_GT(n, 0);
      done += static_cast<size_t>(n);
    }
  }
};

TEST(OutputCapture, TakeReturnsWhatCameSinceTheLastTake) {
  net::io_runtime io{1};
  pipe_pair p;
  output_capture out{io, p.read_fd, 1 << 20};
  p.write_all("one\n");
  EXPECT_EQ(out.take(), "one\n"); // written before the take: drained by it, not raced
  p.write_all("two\n");
  p.write_all("three\n");
  EXPECT_EQ(out.take(), "two\nthree\n");
  EXPECT_EQ(out.take(), "");
}

TEST(OutputCapture, ReadsAsOutputComesSoTheWriterNeverBlocks) {
  net::io_runtime io{1};
  pipe_pair p;
  output_capture out{io, p.read_fd, 1 << 20};
  // Far more than a pipe holds (64 KiB), with no take() meanwhile: only the
  // capture's own reading lets the writer finish.
  std::string chunk(4096, 'a');
  std::thread writer([&] {
    for (int i = 0; i < 64; ++i)
      p.write_all(chunk);
  });
  writer.join(); // bounded: a blocked writer would hang here, and the suite's timeout ends it
  EXPECT_EQ(out.take().size(), 64u * 4096u);
}

TEST(OutputCapture, KeepsTheLatestBytesAndSaysHowManyWent) {
  net::io_runtime io{1};
  pipe_pair p;
  output_capture out{io, p.read_fd, 1000};
  p.write_all(std::string(3000, 'a') + std::string(1000, 'b'));
  auto got = out.take();
  EXPECT_EQ(got, "[troupe: 3000 bytes of output dropped]\n" + std::string(1000, 'b'));
  p.write_all("next\n");
  EXPECT_EQ(out.take(), "next\n");
}

TEST(OutputCapture, ClosingItEndsTheWritersPipe) {
  net::io_runtime io{1};
  pipe_pair p;
  {
    output_capture out{io, p.read_fd, 1000};
    p.write_all("x");
  }
  signal(SIGPIPE, SIG_IGN);
  EXPECT_EQ(write(p.write_fd, "y", 1), -1);
  EXPECT_EQ(errno, EPIPE);
}

} // namespace
} // namespace troupe::runtime
