#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cshealthd/alerts/alerts.hpp"
#include "cshealthd/app/components.hpp"
#include "cshealthd/app/database_runtime.hpp"
#include "cshealthd/base/metrics.hpp"
#include "cshealthd/base/worker_pool.hpp"
#include "cshealthd/config/config.hpp"
#include "cshealthd/http/router.hpp"
#include "cshealthd/http/server.hpp"
#include "cshealthd/onboarding/onboarding.hpp"
#include "cshealthd/pipeline/job_workers.hpp"
#include "cshealthd/pipeline/pipeline.hpp"
#include "cshealthd/pipeline/scheduler.hpp"
#include "cshealthd/pipeline/sync_job.hpp"
#include "cshealthd/plays/plays.hpp"
#include "cshealthd/review/quarterly_review.hpp"
#include "cshealthd/scoring/scoring_config.hpp"
#include "cshealthd/store/database.hpp"
#include "cshealthd/store/migrations.hpp"

namespace cshealthd::app {

// The running service, built in dependency order in start() and taken down in reverse in stop().
class Service {
 public:
  explicit Service(config::Config config);
  ~Service();

  void start();
  // Graceful: stop accepting, finish requests in flight, stop workers, release the database, stop the
  // embedded cluster. Returns false if the deadline was hit on the way.
  bool stop();
  // True when stop() hit its deadline with a handler still running: what the handler uses was left
  // allocated, and the process must end without destroying this object (std::_Exit after a log flush).
  bool abandoned() const { return abandoned_; }
  std::string http_address() const { return server_->address(); }

 private:
  void add_routes();
  std::size_t connection_cap() const;
  std::string readiness();  // "" when ready, else why not; cached briefly
  void add_v1_routes(const core::TimeZone& zone);
  void build_pipeline(const pipeline::ScheduleOptions& schedule);
  void abandon();
  void register_instance();
  void unregister_instance();

  config::Config config_;
  std::string instance_id_;
  // Declared first, destroyed last: the workers, the routes and the server use its parts.
  std::unique_ptr<Components> components_;
  std::unique_ptr<WorkerPool> workers_;
  // The service's own work: the jobs (sync, score, the pipeline run), the workflows, their workers and
  // the scheduler. One object, so that abandon() leaves all of it allocated or none (it cannot forget a
  // part); members are destroyed in reverse order.
  struct Work {
    std::unique_ptr<pipeline::SyncJob> sync_job;
    std::unique_ptr<pipeline::ScoreJob> score_job;
    std::unique_ptr<outbox::Deliverer> deliverer;
    std::unique_ptr<alerts::Alerts> alerts;
    std::unique_ptr<onboarding::Onboarding> onboarding;
    std::unique_ptr<plays::Plays> plays;
    std::unique_ptr<review::QuarterlyReview> review;
    std::unique_ptr<pipeline::Pipeline> pipeline;
    std::unique_ptr<pipeline::JobWorkers> job_workers;
    std::unique_ptr<pipeline::Scheduler> scheduler;
  };
  std::unique_ptr<Work> work_ = std::make_unique<Work>();
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  bool stopped_ = false;
  bool abandoned_ = false;
  std::mutex ready_mutex_;
  std::optional<std::chrono::steady_clock::time_point> ready_checked_;
  bool ready_checking_ = false;
  std::string ready_reason_;
};

}  // namespace cshealthd::app
