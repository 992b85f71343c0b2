#include "onboarding_store.hpp"

#include "cshealthd/core/time.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::onboarding {

void OnboardingStore::lock_assignments(pqxx::work& tx) {
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd.onboarding.assign'))");
}

bool OnboardingStore::exists(pqxx::transaction_base& tx, std::int64_t deal_id) {
  return !tx.exec_params("SELECT 1 FROM onboardings WHERE deal_id = $1", deal_id).empty();
}

std::optional<std::int64_t> OnboardingStore::under_way(pqxx::transaction_base& tx, std::int64_t company_id) {
  const auto r = tx.exec_params(
      "SELECT deal_id FROM onboardings WHERE company_id = $1 AND state = 'onboarding' ORDER BY deal_id LIMIT "
      "1",
      company_id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

void OnboardingStore::start(pqxx::work& tx, const NewOnboarding& o, const std::vector<NewStep>& steps) {
  tx.exec_params(
      "INSERT INTO onboardings (deal_id, company_id, source, state, segment, owner_id, started_on, deal) "
      "VALUES ($1, $2, $3, 'onboarding', $4, $5, $6::date, $7::jsonb)",
      o.deal_id, o.company_id, o.source, o.segment, o.owner_id, o.started_on, o.deal_json);
  std::vector<std::string> names, keys, dues;
  std::vector<std::int64_t> positions;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    names.push_back(steps[i].step);
    keys.push_back(steps[i].task_key);
    dues.push_back(steps[i].due_day);
    positions.push_back(static_cast<std::int64_t>(i));
  }
  tx.exec_params(
      "INSERT INTO onboarding_steps (deal_id, step, position, task_key, due_day) SELECT $1, s, p, k, d::date "
      "FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u (s, p, k, d)",
      o.deal_id, store::text_array(names), store::bigint_array(positions), store::text_array(keys),
      store::text_array(dues));
}

std::vector<OnboardingStore::Open> OnboardingStore::open(pqxx::transaction_base& tx) {
  std::vector<Open> out;
  for (const auto& r : tx.exec(
           "SELECT o.deal_id, o.company_id, o.owner_id, o.segment, o.deal::text, o.started_on::text, s.step, "
           "s.due_day::text, s.completed, s.overdue_on::text, s.escalated FROM onboardings o JOIN "
           "onboarding_steps s USING (deal_id) WHERE o.state = 'onboarding' ORDER BY o.deal_id, "
           "s.position")) {
    const auto deal = r[0].as<std::int64_t>();
    if (out.empty() || out.back().deal_id != deal) {
      out.push_back({deal,
                     r[1].as<std::int64_t>(),
                     r[2].as<std::string>(),
                     r[3].as<std::string>(),
                     r[4].as<std::string>(),
                     r[5].as<std::string>(),
                     {}});
    }
    core::StepState st;
    st.step = r[6].as<std::string>();
    st.due_day = core::parse_day(r[7].as<std::string>()).value_or(0);
    st.completed = r[8].as<bool>();
    if (!r[9].is_null()) st.overdue_on = core::parse_day(r[9].as<std::string>());
    st.escalated = r[10].as<bool>();
    out.back().steps.push_back(std::move(st));
  }
  return out;
}

void OnboardingStore::hand_over(pqxx::work& tx, std::int64_t deal_id, const std::string& csm,
                                std::int32_t day) {
  tx.exec_params(
      "UPDATE onboardings SET state = 'handed_over', csm_id = $2, completed_on = $3::date, handed_over_at = "
      "now() "
      "WHERE deal_id = $1",
      deal_id, csm, core::format_day(day));
}

void OnboardingStore::mark_escalated(pqxx::work& tx, std::int64_t deal_id, const std::string& step) {
  tx.exec_params("UPDATE onboarding_steps SET escalated = true WHERE deal_id = $1 AND step = $2", deal_id,
                 step);
}

void OnboardingStore::mark_overdue(pqxx::work& tx, std::int64_t deal_id, const std::string& step,
                                   std::int32_t day) {
  tx.exec_params("UPDATE onboarding_steps SET overdue_on = $3::date WHERE deal_id = $1 AND step = $2",
                 deal_id, step, core::format_day(day));
}

void OnboardingStore::set_enabled(pqxx::work& tx, bool enabled) {
  tx.exec_params(
      "UPDATE onboarding_state SET since = CASE WHEN enabled THEN since ELSE now() END, enabled = $1",
      enabled);
  if (!enabled) tx.exec("DELETE FROM deal_stage_changes");
}

std::vector<OnboardingStore::StageChange> OnboardingStore::take_stage_changes(pqxx::work& tx) {
  std::vector<StageChange> out;
  for (const auto& r :
       tx.exec("DELETE FROM deal_stage_changes d USING onboarding_state s WHERE true "
               "RETURNING d.deal_id, d.stage, d.first_seen, coalesce(d.won_after >= s.since, false)"))
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<bool>(), r[3].as<bool>()});
  return out;
}

namespace {

std::map<std::string, int> counts(const pqxx::result& rows) {
  std::map<std::string, int> out;
  for (const auto& r : rows) out[r[0].as<std::string>()] = r[1].as<int>();
  return out;
}

}  // namespace

std::map<std::string, int> OnboardingStore::onboarding_load(pqxx::transaction_base& tx,
                                                            const std::string& segment) {
  return counts(
      tx.exec_params("SELECT owner_id, count(*) FROM onboardings WHERE state = 'onboarding' AND segment = $1 "
                     "GROUP BY owner_id",
                     segment));
}

std::map<std::string, int> OnboardingStore::customer_load(pqxx::transaction_base& tx,
                                                          const std::string& segment,
                                                          double high_touch_min_mrr,
                                                          const std::set<std::string>& high_touch_plans) {
  return counts(tx.exec_params(
      "WITH held AS (SELECT id AS company_id, owner_id, CASE WHEN coalesce(mrr, 0) >= $2::double precision "
      "OR "
      "plan = ANY($3::text[]) THEN 'high_touch' ELSE 'tech_touch' END AS segment FROM companies WHERE NOT "
      "archived AND owner_id IS NOT NULL UNION SELECT company_id, csm_id, segment FROM onboardings WHERE "
      "csm_id IS NOT NULL) SELECT owner_id, count(DISTINCT company_id) FROM held WHERE segment = $1 GROUP BY "
      "owner_id",
      segment, high_touch_min_mrr,
      store::text_array(std::vector<std::string>(high_touch_plans.begin(), high_touch_plans.end()))));
}

std::string OnboardingStore::cursor(pqxx::transaction_base& tx, const std::string& pool) {
  const auto r = tx.exec_params("SELECT last_owner FROM assignment_cursors WHERE pool = $1", pool);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

void OnboardingStore::move_cursor(pqxx::work& tx, const std::string& pool, const std::string& owner) {
  tx.exec_params(
      "INSERT INTO assignment_cursors (pool, last_owner) VALUES ($1, $2) ON CONFLICT (pool) DO UPDATE SET "
      "last_owner = EXCLUDED.last_owner, updated_at = now()",
      pool, owner);
}

}  // namespace cshealthd::onboarding
