#include "delivery.hpp"

namespace cshealthd::outbox::detail {

using json = nlohmann::json;
using hubspot::ApiError;

bool CloseSender::send_next() {
  const auto rows = d_.store.ready_closes(kBatch);
  if (rows.empty()) return false;
  json inputs = json::array();
  std::vector<std::int64_t> sent, orphans;
  for (const auto& r : rows) {
    if (r.task_dead || r.task_id.empty()) {
      orphans.push_back(r.id);
      continue;
    }
    inputs.push_back(
        {{"id", r.task_id}, {"properties", {{"hs_task_status", "COMPLETED"}, {"hs_task_body", r.body}}}});
    sent.push_back(r.id);
  }
  d_.dead(orphans, "its task was never created", Kind::kTaskClose);
  if (inputs.empty()) return true;
  json answer;
  try {
    answer = d_.client.call("tasks.batch_update", "POST",
                            d_.client.paths().objects("tasks") + "/batch/update", {{"inputs", inputs}});
  } catch (const ApiError& e) {
    if (e.kind() != ApiError::Kind::kRejected) throw;
    d_.dead(sent, words(e), Kind::kTaskClose);
    return true;
  }
  // A task deleted in HubSpot (a 207 naming it) has nothing left to close.
  d_.store.mark_done(sent, {}, partial(answer) ? "some tasks were no longer in HubSpot" : "");
  d_.report.closed += sent.size();
  d_.count("task_close", "closed", sent.size());
  return true;
}

}  // namespace cshealthd::outbox::detail
