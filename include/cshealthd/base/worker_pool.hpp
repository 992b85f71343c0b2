#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace cshealthd {

// Threads for blocking work (SQL, scoring, HTTP handlers), so that I/O threads never block.
class WorkerPool {
 public:
  WorkerPool(int threads, std::string name);
  ~WorkerPool();  // shutdown with no deadline
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False once shutdown has begun (the task is not run).
  bool post(std::function<void()> task);
  std::size_t queued() const;

  // Stops taking tasks, runs what is queued, joins. If the deadline passes first, the remaining
  // threads are left to finish on their own and false is returned.
  bool shutdown(std::chrono::milliseconds deadline = std::chrono::milliseconds::max());

  struct State;  // shared with the threads, which may outlive a shutdown that hit its deadline

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cshealthd
