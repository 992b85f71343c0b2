#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace cshealthd {

// Threads for blocking work (SQL, scoring, HTTP handlers), so that I/O threads never block. The queue
// is bounded: past `max_queued` waiting tasks, post() refuses instead of letting work (and memory) pile
// up behind a stalled database.
class WorkerPool {
 public:
  static constexpr std::size_t kUnbounded = static_cast<std::size_t>(-1);
  WorkerPool(int threads, std::string name, std::size_t max_queued = kUnbounded);
  ~WorkerPool();  // shutdown with no deadline
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  enum class Posted { kQueued, kFull, kStopping };
  // kFull when max_queued tasks already wait, kStopping once shutdown has begun: the task is not run.
  Posted try_post(std::function<void()> task);
  // True when queued (try_post() == kQueued).
  bool post(std::function<void()> task) { return try_post(std::move(task)) == Posted::kQueued; }
  std::size_t queued() const;

  // Stops taking tasks, runs what is queued, joins. If the deadline passes first, the remaining
  // threads are left to finish on their own and false is returned.
  bool shutdown(std::chrono::milliseconds deadline = std::chrono::milliseconds::max());

  struct State;  // shared with the threads, which may outlive a shutdown that hit its deadline

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cshealthd
