#include "cshealthd/base/worker_pool.hpp"

#include <atomic>
#include <future>

#include <gtest/gtest.h>

namespace cshealthd {
namespace {

using namespace std::chrono_literals;

TEST(WorkerPoolTest, ShutdownRunsEverythingQueued) {
  std::atomic<int> ran{0};
  WorkerPool pool(2, "t");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(pool.post([&] { ran++; }));
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(ran, 1000);
  EXPECT_FALSE(pool.post([&] { ran++; }));  // refused once stopping
  EXPECT_EQ(ran, 1000);
}

TEST(WorkerPoolTest, ExceptionInTaskDoesNotKillWorker) {
  std::atomic<int> ran{0};
  WorkerPool pool(1, "t");
  pool.post([] { throw std::runtime_error("task failure"); });
  pool.post([&] { ran++; });
  pool.shutdown();
  EXPECT_EQ(ran, 1);
}

TEST(WorkerPoolTest, DeadlineReturnsFalseWhileTaskStillRuns) {
  std::promise<void> release;
  auto released = release.get_future().share();
  WorkerPool pool(1, "t");
  pool.post([released] { released.wait(); });
  EXPECT_FALSE(pool.shutdown(50ms));
  release.set_value();
}

TEST(WorkerPoolTest, BoundedQueueRefusesWhenFullAndTakesWorkAgainOnceDrained) {
  std::promise<void> release, entered;
  auto released = release.get_future().share();
  WorkerPool pool(1, "t", 2);
  ASSERT_EQ(pool.try_post([&, released] {
    entered.set_value();
    released.wait();
  }),
            WorkerPool::Posted::kQueued);
  entered.get_future().wait();  // the one thread is busy: what follows waits in the queue
  EXPECT_EQ(pool.try_post([] {}), WorkerPool::Posted::kQueued);
  EXPECT_EQ(pool.try_post([] {}), WorkerPool::Posted::kQueued);
  EXPECT_EQ(pool.try_post([] {}), WorkerPool::Posted::kFull);
  EXPECT_EQ(pool.queued(), 2u);
  release.set_value();
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(pool.try_post([] {}), WorkerPool::Posted::kStopping);
}

}  // namespace
}  // namespace cshealthd
