#include <spdlog/spdlog.h>

#include "delivery.hpp"

namespace cshealthd::outbox::detail {

bool SlackSender::send_next() {
  if (d_.settings.slack_webhook_url.empty()) return false;
  const auto items = d_.store.slack_due(20);
  if (items.empty()) return false;
  bool progressed = false;
  for (const auto& i : items) {
    std::string failure;
    try {
      client_.post(std::get<SlackMessage>(i.intent).text);
    } catch (const std::exception& e) {
      failure = words(e);
    }
    if (failure.empty()) {
      d_.store.mark_done({i.id});
      ++d_.report.slack;
      d_.count("slack", "posted", 1);
      progressed = true;
      continue;
    }
    if (i.attempts + 1 >= d_.settings.max_attempts) {
      d_.dead({i.id}, "Slack: " + failure, Kind::kSlack);
      continue;
    }
    d_.store.failed_attempt(i.id, "Slack: " + failure);
    spdlog::warn("writeback: Slack post failed ({}); retrying later", failure);
  }
  return progressed;
}

}  // namespace cshealthd::outbox::detail
