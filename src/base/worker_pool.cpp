#include "cshealthd/base/worker_pool.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

namespace cshealthd {

struct WorkerPool::State {
  std::string name;
  std::size_t max_queued = WorkerPool::kUnbounded;
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable idle;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
  int running = 0;  // threads not yet exited
  std::vector<std::thread> threads;
};

namespace {

void worker_loop(const std::shared_ptr<WorkerPool::State>& s) {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(s->mutex);
      s->wake.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
      if (s->queue.empty()) break;
      task = std::move(s->queue.front());
      s->queue.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      spdlog::error("{}: task failed: {}", s->name, e.what());
    }
  }
  std::lock_guard lock(s->mutex);
  --s->running;
  s->idle.notify_all();
}

}  // namespace

WorkerPool::WorkerPool(int threads, std::string name, std::size_t max_queued)
    : state_(std::make_shared<State>()) {
  state_->name = std::move(name);
  state_->max_queued = max_queued;
  state_->running = threads;
  for (int i = 0; i < threads; ++i) {
    state_->threads.emplace_back([s = state_] { worker_loop(s); });
  }
}

WorkerPool::~WorkerPool() {
  shutdown();
}

WorkerPool::Posted WorkerPool::try_post(std::function<void()> task) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return Posted::kStopping;
    if (state_->queue.size() >= state_->max_queued) return Posted::kFull;
    state_->queue.push_back(std::move(task));
  }
  state_->wake.notify_one();
  return Posted::kQueued;
}

std::size_t WorkerPool::queued() const {
  std::lock_guard lock(state_->mutex);
  return state_->queue.size();
}

bool WorkerPool::shutdown(std::chrono::milliseconds deadline) {
  std::unique_lock lock(state_->mutex);
  if (state_->threads.empty()) return state_->running == 0;
  state_->stopping = true;
  state_->wake.notify_all();
  bool done = true;
  if (deadline == std::chrono::milliseconds::max()) {
    state_->idle.wait(lock, [&] { return state_->running == 0; });
  } else {
    done = state_->idle.wait_for(lock, deadline, [&] { return state_->running == 0; });
  }
  auto threads = std::move(state_->threads);
  state_->threads.clear();
  lock.unlock();
  for (auto& t : threads) {
    // Threads still busy past the deadline hold their own reference to the state.
    if (done)
      t.join();
    else
      t.detach();
  }
  return done;
}

}  // namespace cshealthd
