#include "cshealthd/base/handoff.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace cshealthd {
namespace {

TEST(Handoff, HandsOverEveryItemInOrderThenEnds) {
  Handoff<int> q(2);
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.push(i));
    q.close();
  });
  std::vector<int> got;
  while (auto v = q.pop()) got.push_back(*v);
  producer.join();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
  EXPECT_FALSE(q.pop().has_value());  // stays ended
}

TEST(Handoff, PushWaitsWhileDepthItemsWait) {
  Handoff<int> q(2);
  ASSERT_TRUE(q.push(1));
  ASSERT_TRUE(q.push(2));
  std::atomic<bool> third{false};
  std::thread producer([&] {
    q.push(3);
    third = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third.load());  // no room yet
  EXPECT_EQ(q.pop(), 1);
  producer.join();
  EXPECT_TRUE(third.load());
  EXPECT_EQ(q.pop(), 2);
  EXPECT_EQ(q.pop(), 3);
}

TEST(Handoff, TheProducersErrorReachesTheConsumerAfterWhatWasPushed) {
  Handoff<int> q(4);
  q.push(7);
  q.close(std::make_exception_ptr(std::runtime_error("read failed")));
  EXPECT_EQ(q.pop(), 7);  // pushed before the failure: still handed out
  EXPECT_THROW(q.pop(), std::runtime_error);
  EXPECT_THROW(q.push(8), std::runtime_error);
}

TEST(Handoff, TheConsumersErrorWakesAWaitingProducer) {
  Handoff<int> q(1);
  q.push(1);
  std::thread consumer([&] { q.close(std::make_exception_ptr(std::runtime_error("write failed"))); });
  EXPECT_THROW(q.push(2), std::runtime_error);  // waiting for room, then told why there is none
  consumer.join();
  ASSERT_TRUE(q.error());
  q.close();  // a later clean close keeps the error
  EXPECT_THROW(std::rethrow_exception(q.error()), std::runtime_error);
}

TEST(Handoff, AConsumerThatStopsReleasesAWaitingProducer) {
  Handoff<int> q(1);
  q.push(1);
  std::thread producer([&] { EXPECT_FALSE(q.push(2)); });
  q.close();
  producer.join();
  EXPECT_EQ(q.error(), nullptr);
}

}  // namespace
}  // namespace cshealthd
