#include "cshealthd/api/health_json.hpp"

namespace cshealthd::api {
namespace {

using json = nlohmann::json;

json number_or_null(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json to_json(const scoring::StoredResult& r) {
  return {{"company_id", std::to_string(r.company_id)},
          {"as_of", r.as_of},
          {"score", r.score},
          {"computed_score", r.computed_score},
          {"status", r.status},
          {"coverage", r.coverage},
          {"scorecard", r.scorecard},
          {"segment", r.segment},
          {"previous_score", number_or_null(r.previous_score)},
          {"delta", number_or_null(r.delta)},
          {"components", r.components},
          {"signals", r.signals},
          {"reasons", r.reasons},
          {"override", r.score_override},
          {"computed_at", r.computed_at},
          {"churn_risk", number_or_null(r.churn_risk)},
          {"expansion_likelihood", number_or_null(r.expansion_likelihood)}};
}

json to_json(const scoring::HistoryEntry& e) {
  return {{"as_of", e.as_of},
          {"score", e.score},
          {"status", e.status},
          {"coverage", e.coverage},
          {"delta", number_or_null(e.delta)},
          {"scorecard", e.scorecard},
          {"reasons", e.reasons}};
}

json to_json(const scoring::ScorePage& page) {
  json results = json::array();
  for (const auto& r : page.results) {
    results.push_back({{"company_id", std::to_string(r.company_id)},
                       {"score", r.score},
                       {"status", r.status},
                       {"coverage", r.coverage},
                       {"scorecard", r.scorecard},
                       {"segment", r.segment},
                       {"delta", number_or_null(r.delta)},
                       {"reasons", r.reasons},
                       {"signals", r.signals},
                       {"churn_risk", number_or_null(r.churn_risk)},
                       {"expansion_likelihood", number_or_null(r.expansion_likelihood)}});
  }
  return {{"as_of", page.as_of ? json(*page.as_of) : json(nullptr)},
          {"results", std::move(results)},
          {"next_after", page.next_after ? json(std::to_string(*page.next_after)) : json(nullptr)}};
}

json to_json(const scoring::StoredOverride& o) {
  return {{"id", o.id},
          {"company_id", std::to_string(o.company_id)},
          {"component", o.component.empty() ? json(nullptr) : json(o.component)},
          {"value", o.value},
          {"reason", o.reason},
          {"author", o.author},
          {"expires_on", o.expires_on},
          {"created_at", o.created_at},
          {"revoked", o.revoked},
          {"revoked_by", o.revoked_by ? json(*o.revoked_by) : json(nullptr)}};
}

json to_json(const std::vector<scoring::StoredOverride>& overrides) {
  json out = json::array();
  for (const auto& o : overrides) out.push_back(to_json(o));
  return out;
}

}  // namespace cshealthd::api
