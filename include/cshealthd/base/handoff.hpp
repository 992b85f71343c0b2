#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

namespace cshealthd {

// A bounded queue between a producer thread and a consumer thread, for work that overlaps with the next
// piece of work (the next chunk read while this one is scored; a page's days written while the next page
// is read). push waits while `depth` items wait, so memory stays bounded; pop waits for an item. Either
// side ends it with close(), with the error that stopped it if one did: the other side then gets that
// error instead of waiting forever.
template <typename T>
class Handoff {
 public:
  explicit Handoff(std::size_t depth) : depth_(depth) {}
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  // Waits for room. False once closed; rethrows the error it was closed with.
  bool push(T item) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return items_.size() < depth_ || closed_; });
    if (error_) std::rethrow_exception(error_);
    if (closed_) return false;
    items_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }

  // Waits for an item. What was pushed before a close is still handed out; after it, nullopt, or the
  // error the queue was closed with.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return std::nullopt;
    }
    std::optional<T> item(std::move(items_.front()));
    items_.pop_front();
    changed_.notify_all();
    return item;
  }

  // Idempotent; the first error given is the one kept.
  void close(std::exception_ptr error = nullptr) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    if (!error_) error_ = std::move(error);
    changed_.notify_all();
  }

  std::exception_ptr error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  const std::size_t depth_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool closed_ = false;
  std::exception_ptr error_;
};

}  // namespace cshealthd
