#include "cshealthd/kpis/kpi_store.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "cshealthd/core/time.hpp"
#include "cshealthd/store/crm_repository.hpp"
#include "cshealthd/store/sql_params.hpp"

namespace cshealthd::kpis {
namespace {

using json = nlohmann::json;
using core::format_day;

// A company's MRR from a snapshot row: the synced value wins over a back-filled one.
constexpr const char* kMrr = "coalesce(s.synced->>'mrr', s.backfilled->>'mrr')::float8";
constexpr const char* kHasMrr = "(s.synced ? 'mrr' OR s.backfilled ? 'mrr')";
// The companies the KPIs count: live ones (archived, deleted and merged ones are not customers).
constexpr const char* kLive =
    "c.object_type = 'companies' AND NOT c.archived AND c.deleted_at IS NULL AND c.merged_into IS NULL";
// An owner's name, as people know them.
constexpr const char* kOwnerName =
    "coalesce(nullif(trim(coalesce(o.first_name, '') || ' ' || coalesce(o.last_name, '')), ''), o.email, "
    "c.fields->>'owner_id')";

std::string mrr_as_of(const std::string& cmp, const std::string& day) {
  return std::string("(SELECT ") + kMrr + " FROM company_snapshots s WHERE s.company_id = c.id AND s.day " +
         cmp + " " + day + "::date AND " + kHasMrr + " ORDER BY s.day DESC LIMIT 1)";
}

json opt_text(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<std::string>());
}
json opt_num(const pqxx::field& f) {
  return f.is_null() ? json(nullptr) : json(f.as<double>());
}

struct Group {
  std::string segment, owner;
  bool operator<(const Group& o) const { return std::tie(segment, owner) < std::tie(o.segment, o.owner); }
};

// A period's NPS answers, resolved tickets and onboardings (due, on time, completed, first values), per
// company found by `find`.
template <typename Find>
void read_period_activity(pqxx::work& tx, const std::string& first, const std::string& last, int target_days,
                          const std::string& first_value_step, const Find& find) {
  // NPS answers submitted in the period (DOMAIN §1: 9–10 promoters, 0–6 detractors).
  for (const auto& r : tx.exec_params(
           "SELECT cf.company_id, count(*) FILTER (WHERE f.value >= 9), count(*) FILTER (WHERE f.value "
           ">= 7 AND f.value < 9), count(*) FILTER (WHERE f.value < 7) FROM company_feedback cf JOIN "
           "feedback_submissions f ON f.id = cf.feedback_id WHERE NOT f.archived AND f.survey_type = "
           "'NPS' AND f.value IS NOT NULL AND (f.submitted_at AT TIME ZONE 'UTC')::date BETWEEN "
           "$1::date AND $2::date GROUP BY cf.company_id",
           first, last)) {
    if (auto* f = find(r[0])) {
      f->nps_promoters = r[1].as<int>();
      f->nps_passives = r[2].as<int>();
      f->nps_detractors = r[3].as<int>();
    }
  }
  // Tickets closed in the period, and how long each took.
  for (const auto& r : tx.exec_params(
           "SELECT a.to_id, count(*), sum(coalesce(t.time_to_close_ms / 3600000.0, extract(epoch FROM "
           "t.closed_at - t.created_at) / 3600.0)) FROM crm_associations a JOIN tickets t ON t.id = "
           "a.from_id "
           "WHERE a.from_type = 'tickets' AND a.to_type = 'companies' AND NOT t.archived AND t.closed_at IS "
           "NOT "
           "NULL AND (t.closed_at AT TIME ZONE 'UTC')::date BETWEEN $1::date AND $2::date GROUP BY a.to_id",
           first, last)) {
    if (auto* f = find(r[0])) {
      f->tickets_resolved = r[1].as<int>();
      f->ticket_hours = r[2].as<double>();
    }
  }
  // Onboardings: due (their target day) in the period and whether on time; completed in the period; the
  // first value (the configured checklist step's task completed).
  for (
      const auto& r : tx.exec_params(
          "SELECT o.company_id, count(*) FILTER (WHERE o.started_on + $3::int BETWEEN $1::date AND "
          "$2::date), "
          "count(*) FILTER (WHERE o.started_on + $3::int BETWEEN $1::date AND $2::date AND o.completed_on <= "
          "o.started_on + $3::int), count(*) FILTER (WHERE o.completed_on BETWEEN $1::date AND $2::date), "
          "coalesce(sum(o.completed_on - o.started_on) FILTER (WHERE o.completed_on BETWEEN $1::date AND "
          "$2::date), 0), count(v.completed_on) FILTER (WHERE v.completed_on BETWEEN $1::date AND $2::date), "
          "coalesce(sum(v.completed_on - o.started_on) FILTER (WHERE v.completed_on BETWEEN $1::date AND "
          "$2::date), 0) FROM onboardings o LEFT JOIN LATERAL (SELECT tc.completed_on FROM onboarding_steps "
          "st "
          "JOIN task_completions tc ON tc.task_key = st.task_key WHERE st.deal_id = o.deal_id AND st.step = "
          "$4) "
          "v ON true WHERE o.started_on <= $2::date GROUP BY o.company_id",
          first, last, target_days, first_value_step)) {
    if (auto* f = find(r[0])) {
      f->onboardings_due = r[1].as<int>();
      f->onboardings_on_time = r[2].as<int>();
      f->onboardings_completed = r[3].as<int>();
      f->onboarding_days = r[4].as<double>();
      f->first_values = r[5].as<int>();
      f->value_days = r[6].as<double>();
    }
  }
}

// The churn analysis' summary over every churn in the range.
json churn_summary_json(const std::vector<core::ChurnFacts>& all,
                        const std::map<std::string, std::int64_t>& reasons) {
  const auto s = core::summarize_churn(all);
  json lookbacks = json::array();
  for (const auto& lb : s.lookbacks)
    lookbacks.push_back({{"days", lb.days},
                         {"at_risk", lb.at_risk},
                         {"scored", lb.known},
                         {"share", lb.known > 0 ? json(100.0 * static_cast<double>(lb.at_risk) /
                                                       static_cast<double>(lb.known))
                                                : json(nullptr)}});
  json summary = {
      {"churned", s.churned},
      {"total", s.churned},
      {"red_or_orange_before", lookbacks},
      {"median_warning_lead_days", s.median_lead_days ? json(*s.median_lead_days) : json(nullptr)},
      {"alerts", s.alerts},
      {"alerts_acted_on", s.alerts_acted_on},
      {"alerts_acted_on_share",
       s.alerts > 0 ? json(100.0 * static_cast<double>(s.alerts_acted_on) / static_cast<double>(s.alerts))
                    : json(nullptr)},
      {"reasons", reasons}};
  return summary;
}

}  // namespace

json to_json(const PeriodKpis& k) {
  json values = json::array();
  for (const auto& v : k.values) values.push_back(core::to_json(v));
  const auto& f = k.facts;
  json bands = json::object();
  for (std::size_t i = 0; i < core::kStatusBands.size(); ++i) bands[core::kStatusBands[i]] = f.bands[i];
  return {{"period", k.period.label()},
          {"first", format_day(k.period.first)},
          {"last", format_day(k.period.last)},
          {"computed", k.computed},
          {"through", k.through ? json(*k.through) : json(nullptr)},
          {"kpis", values},
          {"mrr",
           {{"start", f.start_mrr},
            {"end", f.end_mrr},
            {"new", f.new_mrr},
            {"expansion", f.expansion_mrr},
            {"contraction", f.contraction_mrr},
            {"churn", f.churn_mrr},
            {"reactivation", f.reactivation_mrr}}},
          {"customers",
           {{"start", f.customers_start},
            {"end", f.customers_end},
            {"new", f.new_customers},
            {"reactivated", f.reactivated},
            {"churned", f.churned},
            {"expanded", f.expanded},
            {"contracted", f.contracted},
            {"csms", k.csms}}},
          {"bands", bands}};
}

std::string to_csv(const std::vector<PeriodKpis>& periods) {
  const auto num = [](const std::optional<double>& v) {
    if (!v) return std::string();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", *v);
    return std::string(buf);
  };
  std::string out = "period,kpi,value,target,met,numerator,denominator\r\n";
  for (const auto& p : periods) {
    for (const auto& v : p.values) {
      out += p.period.label() + "," + v.name + "," + num(v.value) + "," + num(v.target) + "," +
             (v.met ? (*v.met ? "yes" : "no") : "") + "," + num(v.numerator) + "," + num(v.denominator) +
             "\r\n";
    }
  }
  return out;
}

Settings Settings::from(const config::KpiConfig& c) {
  Settings s;
  s.churn = core::parse_churn_rule(c.churn).value_or(core::ChurnRule::kEither);
  s.history_months = c.history_months;
  s.onboarding_target_days = c.onboarding_target_days;
  s.first_value_step = c.first_value_step;
  s.targets = c.targets;
  const auto types = config::split_list(c.upsell_deal_types);
  s.upsell_deal_types = std::set<std::string>(types.begin(), types.end());
  return s;
}

json KpiStore::compute(std::int32_t day, bool rebuild) {
  const auto t0 = std::chrono::steady_clock::now();
  return db_.with_retry("kpis_compute", [&](pqxx::connection& c) {
    pqxx::work tx(c, "kpis_compute");
    // One computation at a time across replicas (a manual run beside the nightly one).
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd:kpis'))");
    const auto state = tx.exec("SELECT through FROM kpi_state");
    const bool first = state.empty();
    std::int32_t from = 0;
    // A run for an earlier day (a manual rerun) never makes a period cover less than it did.
    const std::int32_t upto = first ? day : std::max(day, *core::parse_day(state[0][0].as<std::string>()));
    if (first || rebuild) {
      int y = 0;
      unsigned m = 0, d = 0;
      core::civil_from_days(day, y, m, d);
      int months = settings_.history_months - 1;
      int total = y * 12 + static_cast<int>(m) - 1 - months;
      from = static_cast<std::int32_t>(
          core::days_from_civil(total / 12, static_cast<unsigned>(total % 12) + 1, 1));
    } else {
      from = std::min(*core::parse_day(state[0][0].as<std::string>()), day);
    }
    // A stage is seen churned tonight: on a rerun of an earlier day, the night the data is as of.
    if (settings_.churn != core::ChurnRule::kMrr) note_churned_stages(tx, upto, first);
    std::size_t periods = 0, rows = 0;
    for (const auto g : {core::Granularity::kMonth, core::Granularity::kQuarter}) {
      for (const auto& p : core::periods_between(g, from, upto)) {
        rows += compute_period(tx, p, std::min(p.last, upto));
        ++periods;
      }
    }
    const auto analyzed = analyze_churns(tx, upto);
    tx.exec_params(
        "INSERT INTO kpi_state (id, through) VALUES (true, $1::date) ON CONFLICT (id) DO UPDATE SET through "
        "= "
        "greatest(kpi_state.through, EXCLUDED.through), computed_at = now()",
        format_day(day));
    tx.commit();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return json{{"periods", periods},
                {"companies", rows},
                {"churns_analyzed", analyzed},
                {"from", format_day(from)},
                {"seconds", secs}};
  });
}

void KpiStore::note_churned_stages(pqxx::work& tx, std::int32_t day, bool first_run) {
  const auto today = format_day(day);
  // Stages that left `churned`: the customer came back.
  tx.exec_params(
      "WITH back AS (DELETE FROM company_churned_stage s USING crm_objects c WHERE c.id = s.company_id AND "
      "c.object_type = 'companies' AND coalesce(c.fields->>'cs_stage', '') <> 'churned' RETURNING "
      "s.company_id) "
      "UPDATE churn_events e SET returned_on = $1::date FROM back WHERE e.company_id = back.company_id AND "
      "e.source = 'stage' AND e.returned_on IS NULL",
      today);
  // Newly churned: dated by the churn date property, else tonight. On the first run the stage was set
  // before the service watched: the day `cs_stage` last became `churned` in its property history (read by
  // the full sync into the back-filled snapshots), else HubSpot's last modification of the company. A
  // churn date still to come is not a churn yet: it is noted on that night.
  tx.exec_params(
      std::string("INSERT INTO company_churned_stage (company_id, churned_on) SELECT c.id, "
                  "coalesce(((c.fields->>'churn_date')::timestamptz AT TIME ZONE 'UTC')::date, CASE "
                  "WHEN $2 THEN least($1::date, coalesce((SELECT min(s.day) FROM company_snapshots s WHERE "
                  "s.company_id = c.id AND s.backfilled->>'cs_stage' = 'churned' AND s.day > "
                  "coalesce((SELECT max(o.day) FROM company_snapshots o WHERE o.company_id = c.id AND "
                  "o.backfilled ? 'cs_stage' AND (o.backfilled->>'cs_stage') IS DISTINCT FROM 'churned'), "
                  "'-infinity'::date)), (c.updated_at AT TIME ZONE 'UTC')::date)) END, "
                  "$1::date) FROM crm_objects c WHERE ") +
          kLive +
          " AND c.fields->>'cs_stage' = 'churned' AND coalesce(((c.fields->>'churn_date')::timestamptz "
          "AT TIME ZONE 'UTC')::date, $1::date) <= $1::date ON CONFLICT (company_id) DO NOTHING",
      today, first_run);
  // A churn event for each, with the MRR it had the day before.
  tx.exec(
      std::string("INSERT INTO churn_events (company_id, churn_day, source, mrr_lost, reason, owner_id, "
                  "segment) SELECT c.id, cs.churned_on, 'stage', coalesce(") +
      mrr_as_of("<", "cs.churned_on") +
      ", 0), c.fields->>'churn_reason', c.fields->>'owner_id', (SELECT h.segment FROM health_scores h WHERE "
      "h.company_id = c.id AND h.day <= cs.churned_on ORDER BY h.day DESC LIMIT 1) FROM "
      "company_churned_stage "
      "cs JOIN crm_objects c ON c.id = cs.company_id AND c.object_type = 'companies' WHERE NOT EXISTS "
      "(SELECT 1 FROM churn_events e WHERE e.company_id = c.id AND e.source = 'stage' AND e.returned_on IS "
      "NULL) ON CONFLICT (company_id, churn_day) DO NOTHING");
}

std::size_t KpiStore::compute_period(const core::Period& period, std::int32_t through) {
  return db_.with_retry("kpis_compute_period", [&](pqxx::connection& c) {
    pqxx::work tx(c, "kpis_compute_period");
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('cshealthd:kpis'))");
    const auto n = compute_period(tx, period, through);
    tx.commit();
    return n;
  });
}

std::size_t KpiStore::compute_period(pqxx::work& tx, const core::Period& period, std::int32_t through) {
  const auto first = format_day(period.first), last = format_day(through);
  struct Company {
    core::CompanyPeriod facts;
    Group group;
  };
  std::unordered_map<std::int64_t, Company> companies;
  companies.reserve(1024);
  for (const auto& r : tx.exec_params(
           std::string("SELECT c.id, coalesce(c.fields->>'owner_id', ''), coalesce(h.segment, ''), "
                       "coalesce(h.status, ''), coalesce(") +
               mrr_as_of("<", "$1") + ", 0), coalesce(" + mrr_as_of("<=", "$2") +
               ", 0), EXISTS (SELECT 1 FROM company_snapshots s WHERE s.company_id = c.id AND s.day < "
               "$1::date "
               "AND " +
               kMrr +
               " > 0) FROM crm_objects c LEFT JOIN LATERAL (SELECT h.segment, h.status FROM "
               "health_scores h WHERE h.company_id = c.id AND h.day <= $2::date ORDER BY h.day DESC "
               "LIMIT 1) h ON true WHERE " +
               kLive,
           first, last)) {
    auto& co = companies[r[0].as<std::int64_t>()];
    co.group = {r[2].as<std::string>(), r[1].as<std::string>()};
    co.facts.band = r[3].as<std::string>();
    co.facts.start_mrr = r[4].as<double>();
    co.facts.end_mrr = r[5].as<double>();
    co.facts.paid_before = r[6].as<bool>();
  }
  const auto find = [&](const pqxx::field& id) -> core::CompanyPeriod* {
    const auto it = companies.find(id.as<std::int64_t>());
    return it == companies.end() ? nullptr : &it->second.facts;
  };
  // Churned by stage within the period, and not back by its end.
  for (const auto& r :
       tx.exec_params("SELECT company_id FROM churn_events WHERE source = 'stage' AND churn_day "
                      "BETWEEN $1::date AND $2::date AND (returned_on IS NULL OR returned_on > "
                      "$2::date)",
                      first, last)) {
    if (auto* f = find(r[0])) f->stage_churned = true;
  }
  read_period_activity(tx, first, last, settings_.onboarding_target_days, settings_.first_value_step, find);

  std::map<Group, core::KpiFacts> groups;
  std::vector<std::int64_t> mrr_churned, returned;
  for (const auto& [id, co] : companies) {
    groups[co.group].add(co.facts, settings_.churn);
    const auto mv = core::classify(co.facts, settings_.churn);
    if (mv.kind == core::Movement::kChurn && !co.facts.stage_churned) mrr_churned.push_back(id);
    if (mv.kind == core::Movement::kReactivation) returned.push_back(id);
  }
  const auto g = core::granularity_name(period.granularity);
  tx.exec_params("DELETE FROM kpi_facts WHERE granularity = $1 AND period_start = $2::date", g, first);
  std::vector<std::string> segs, owners, facts;
  for (const auto& [group, f] : groups) {
    segs.push_back(group.segment);
    owners.push_back(group.owner);
    facts.push_back(f.to_json().dump());
  }
  if (!groups.empty()) {
    tx.exec_params(
        "INSERT INTO kpi_facts (granularity, period_start, segment, owner_id, facts, through) SELECT $1, "
        "$2::date, s, o, f::jsonb, $6::date FROM unnest($3::text[], $4::text[], $5::text[]) AS x(s, o, f)",
        g, first, store::text_array(segs), store::text_array(owners), store::text_array(facts), last);
  }
  // The churns by MRR, for the churn analysis: the first day in the period its MRR was zero. And the
  // returns of earlier ones.
  if (period.granularity == core::Granularity::kMonth && !mrr_churned.empty()) {
    tx.exec_params(
        std::string("INSERT INTO churn_events (company_id, churn_day, source, mrr_lost, reason, "
                    "owner_id, segment) SELECT c.id, coalesce((SELECT min(s.day) FROM company_snapshots "
                    "s WHERE s.company_id = c.id AND s.day BETWEEN $1::date AND $2::date AND ") +
            kHasMrr + " AND " + kMrr + " <= 0), $2::date), 'mrr', coalesce(" + mrr_as_of("<", "$1") +
            ", 0), c.fields->>'churn_reason', c.fields->>'owner_id', (SELECT h.segment FROM "
            "health_scores h WHERE h.company_id = c.id AND h.day <= $2::date ORDER BY h.day DESC LIMIT "
            "1) FROM crm_objects c WHERE c.id = ANY($3::bigint[]) AND c.object_type = 'companies' AND "
            "NOT EXISTS (SELECT 1 FROM churn_events e WHERE e.company_id = c.id AND e.churn_day "
            "BETWEEN $1::date AND $2::date) ON CONFLICT (company_id, churn_day) DO NOTHING",
        first, last, store::bigint_array(mrr_churned));
  }
  if (period.granularity == core::Granularity::kMonth && !returned.empty()) {
    tx.exec_params(
        "UPDATE churn_events SET returned_on = $2::date WHERE company_id = ANY($1::bigint[]) AND source = "
        "'mrr' "
        "AND returned_on IS NULL AND churn_day < $3::date",
        store::bigint_array(returned), last, first);
  }
  return companies.size();
}

std::vector<PeriodKpis> KpiStore::kpis(const KpiQuery& q) {
  const auto periods = core::periods_between(q.granularity, q.from, q.to);
  std::vector<PeriodKpis> out;
  if (periods.empty()) return out;
  struct Row {
    std::string owner, through;
    core::KpiFacts facts;
  };
  std::map<std::int32_t, std::vector<Row>> rows;
  db_.with_retry("kpis_read", [&](pqxx::connection& c) {
    rows.clear();
    pqxx::read_transaction tx(c, "kpis_read");
    for (const auto& r : tx.exec_params(
             "SELECT period_start, owner_id, through, facts FROM kpi_facts WHERE granularity = $1 AND "
             "period_start BETWEEN $2::date AND $3::date AND ($4::text IS NULL OR segment = $4) AND "
             "($5::text IS "
             "NULL OR owner_id = $5)",
             core::granularity_name(q.granularity), format_day(periods.front().first),
             format_day(periods.back().first), store::nullable(q.segment), store::nullable(q.owner))) {
      rows[*core::parse_day(r[0].as<std::string>())].push_back(
          {r[1].as<std::string>(), r[2].as<std::string>(),
           core::KpiFacts::from_json(json::parse(r[3].c_str()))});
    }
  });
  for (const auto& p : periods) {
    PeriodKpis k;
    k.period = p;
    if (const auto it = rows.find(p.first); it != rows.end()) {
      k.computed = true;
      std::map<std::string, std::int64_t> by_owner;
      for (const auto& r : it->second) {
        k.facts += r.facts;
        k.through = r.through;
        if (!r.owner.empty()) by_owner[r.owner] += r.facts.customers_end;
      }
      k.csms = std::count_if(by_owner.begin(), by_owner.end(), [](const auto& o) { return o.second > 0; });
    }
    k.values = core::compute_kpis(k.facts, k.csms, settings_.targets, p);
    out.push_back(std::move(k));
  }
  return out;
}

json KpiStore::dimensions() {
  return db_.with_retry("kpis_dimensions", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_dimensions");
    json segments = json::array(), owners = json::array();
    for (const auto& r : tx.exec("SELECT DISTINCT segment FROM kpi_facts WHERE segment <> '' ORDER BY 1"))
      segments.push_back(r[0].as<std::string>());
    for (const auto& r :
         tx.exec(std::string("SELECT k.owner_id, ") +
                 "coalesce(nullif(trim(coalesce(o.first_name, '') || ' ' || coalesce(o.last_name, '')), ''), "
                 "o.email, k.owner_id) FROM (SELECT DISTINCT owner_id FROM kpi_facts WHERE owner_id <> '') k "
                 "LEFT JOIN crm_owners o ON o.id::text = k.owner_id ORDER BY 2"))
      owners.push_back({{"id", r[0].as<std::string>()}, {"name", r[1].as<std::string>()}});
    return json{{"segments", segments}, {"owners", owners}};
  });
}

json KpiStore::renewals(std::int32_t today, int within_days, const ListQuery& q) {
  return db_.with_retry("kpis_renewals", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_renewals");
    // The page's companies and the count first (the renewal date index; the latest segment only when
    // filtered by it), then what the page shows of them: within 90 days can be a fifth of a big portal.
    const std::string segment =
        q.segment ? " JOIN LATERAL (SELECT h.segment FROM health_scores h WHERE h.company_id = c.id ORDER BY "
                    "h.day DESC LIMIT 1) h ON h.segment = $3"
                  : std::string();
    // $3 (the segment) is named in the join or, typed, here: every parameter must be.
    const std::string from =
        std::string(" FROM crm_objects c") + segment + " WHERE " + kLive +
        " AND c.fields->>'renewal_date' >= $1 AND c.fields->>'renewal_date' < $2 AND "
        "coalesce(c.fields->>'cs_stage', '') <> 'churned' AND ($3::text IS NULL OR true) AND "
        "($4::text IS NULL OR c.fields->>'owner_id' = $4)";
    const auto from_day = format_day(today), to_day = format_day(today + within_days + 1);
    std::vector<std::int64_t> page;
    std::int64_t total = 0;
    for (const auto& r :
         tx.exec_params("SELECT c.id, count(*) OVER ()" + from +
                            " ORDER BY c.fields->>'renewal_date', c.id LIMIT $5 OFFSET $6",
                        from_day, to_day, store::nullable(q.segment), store::nullable(q.owner),
                        static_cast<std::int64_t>(q.limit), static_cast<std::int64_t>(q.offset))) {
      page.push_back(r[0].as<std::int64_t>());
      total = r[1].as<std::int64_t>();
    }
    if (page.empty() && q.offset > 0)  // past the end: still say how many there are
      total = tx.exec_params("SELECT count(*)" + from, from_day, to_day, store::nullable(q.segment),
                             store::nullable(q.owner))[0][0]
                  .as<std::int64_t>();
    json items = json::array();
    for (const auto& r : tx.exec_params(
             std::string(
                 "SELECT c.id, c.fields->>'name', c.fields->>'renewal_date', c.fields->>'owner_id', ") +
                 kOwnerName +
                 ", (c.fields->>'mrr')::float8, h.score, h.status, h.segment, h.delta, (SELECT "
                 "coalesce(json_agg(json_build_object('step', s.step, 'day', s.day, 'action', s.action) "
                 "ORDER BY "
                 "s.day, s.step), '[]') FROM play_steps s WHERE s.company_id = c.id AND s.play = 'renewal' "
                 "AND "
                 "s.cycle = left(c.fields->>'renewal_date', 10)) FROM unnest($1::bigint[]) WITH ORDINALITY "
                 "AS "
                 "p(id, n) JOIN crm_objects c ON c.object_type = 'companies' AND c.id = p.id LEFT JOIN "
                 "crm_owners o "
                 "ON o.id::text = c.fields->>'owner_id' LEFT JOIN LATERAL (SELECT h.score, h.status, "
                 "h.segment, "
                 "h.delta FROM health_scores h WHERE h.company_id = c.id ORDER BY h.day DESC LIMIT 1) h ON "
                 "true "
                 "ORDER BY p.n",
             store::bigint_array(page))) {
      const auto renewal = r[2].as<std::string>().substr(0, 10);
      items.push_back({{"company_id", r[0].as<std::string>()},
                       {"name", opt_text(r[1])},
                       {"renewal_date", renewal},
                       {"days_left", *core::parse_day(renewal) - today},
                       {"owner_id", opt_text(r[3])},
                       {"owner", opt_text(r[4])},
                       {"mrr", opt_num(r[5])},
                       {"score", opt_num(r[6])},
                       {"status", opt_text(r[7])},
                       {"segment", opt_text(r[8])},
                       {"delta", opt_num(r[9])},
                       {"play_steps", json::parse(r[10].c_str())}});
    }
    return json{{"within_days", within_days}, {"total", total}, {"renewals", items}};
  });
}

json KpiStore::at_risk(const ListQuery& q) {
  static const std::map<std::string, std::string> kSort = {{"score", "h.score"},
                                                           {"delta", "h.delta"},
                                                           {"mrr", "(c.fields->>'mrr')::float8"},
                                                           {"name", "lower(c.fields->>'name')"},
                                                           {"owner", kOwnerName}};
  const auto sort = kSort.at(q.sort);  // the API checks the name
  const std::string dir = q.descending ? " DESC NULLS LAST" : " ASC NULLS LAST";
  return db_.with_retry("kpis_at_risk", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_at_risk");
    const auto latest = tx.exec("SELECT max(day) FROM health_scores");
    json items = json::array();
    if (latest[0][0].is_null()) return json{{"as_of", nullptr}, {"total", 0}, {"companies", items}};
    const auto day = latest[0][0].as<std::string>();
    // The page's companies first (the sort key and a count only), then what the page shows of them: a
    // big portal has tens of thousands under 60, and their reasons and open tasks are read for one page.
    // The scores under 60 come first (the partial index), materialized: planned as one query with the sort
    // and the count, PostgreSQL walks every company in the sort's order instead (1.9 s at 100k companies).
    const std::string owners =
        q.sort == "owner" ? " LEFT JOIN crm_owners o ON o.id::text = c.fields->>'owner_id'" : std::string();
    const std::string cte =
        "WITH h AS MATERIALIZED (SELECT company_id, score, delta FROM health_scores WHERE day = $1::date AND "
        "score "
        "< 60 AND status <> 'unknown' AND ($2::text IS NULL OR segment = $2)) ";
    const std::string body =
        std::string(" FROM h JOIN crm_objects c ON c.object_type = 'companies' AND c.id = h.company_id") +
        owners + " WHERE " + kLive + " AND ($3::text IS NULL OR c.fields->>'owner_id' = $3)";
    const auto select = [&](const std::string& what) { return cte + "SELECT " + what + body; };
    std::int64_t total = 0;
    std::vector<std::int64_t> page;
    for (const auto& r :
         tx.exec_params(select("h.company_id, count(*) OVER ()") + " ORDER BY " + sort + dir +
                            ", h.company_id LIMIT $4 OFFSET $5",
                        day, store::nullable(q.segment), store::nullable(q.owner),
                        static_cast<std::int64_t>(q.limit), static_cast<std::int64_t>(q.offset))) {
      page.push_back(r[0].as<std::int64_t>());
      total = r[1].as<std::int64_t>();
    }
    if (page.empty() && q.offset > 0)  // past the end: still say how many there are
      total =
          tx.exec_params(select("count(*)"), day, store::nullable(q.segment), store::nullable(q.owner))[0][0]
              .as<std::int64_t>();
    for (const auto& r : tx.exec_params(
             std::string("SELECT c.id, c.fields->>'name', c.fields->>'owner_id', ") + kOwnerName +
                 ", (c.fields->>'mrr')::float8, h.score, h.status, h.segment, h.delta, h.reasons, (SELECT "
                 "coalesce(json_agg(json_build_object('rule', e.rule, 'opened_on', e.opened_on, 'escalated', "
                 "e.escalated) ORDER BY e.opened_on), '[]') FROM alert_episodes e WHERE e.company_id = c.id "
                 "AND "
                 "e.task_open AND e.task_key <> ''), c.fields->>'renewal_date' FROM unnest($2::bigint[]) "
                 "WITH "
                 "ORDINALITY AS p(id, n) JOIN health_scores h ON h.company_id = p.id AND h.day = $1::date "
                 "JOIN "
                 "crm_objects c ON c.object_type = 'companies' AND c.id = p.id LEFT JOIN crm_owners o ON "
                 "o.id::text "
                 "= c.fields->>'owner_id' ORDER BY p.n",
             day, store::bigint_array(page))) {
      json reasons = json::parse(r[9].c_str());
      if (reasons.is_array() && reasons.size() > 3) reasons.erase(reasons.begin() + 3, reasons.end());
      items.push_back(
          {{"company_id", r[0].as<std::string>()},
           {"name", opt_text(r[1])},
           {"owner_id", opt_text(r[2])},
           {"owner", opt_text(r[3])},
           {"mrr", opt_num(r[4])},
           {"score", r[5].as<double>()},
           {"status", r[6].as<std::string>()},
           {"segment", r[7].as<std::string>()},
           {"delta", opt_num(r[8])},
           {"reasons", reasons},
           {"open_alerts", json::parse(r[10].c_str())},
           {"renewal_date", r[11].is_null() ? json(nullptr) : json(r[11].as<std::string>().substr(0, 10))}});
    }
    return json{{"as_of", day}, {"total", total}, {"companies", items}};
  });
}

std::vector<ChurnOutcome> KpiStore::churn_outcomes() {
  return db_.with_retry("kpis_churn_outcomes", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_churn_outcomes");
    std::vector<ChurnOutcome> out;
    for (const auto& r : tx.exec_params(
             "SELECT company_id, churn_day - date '1970-01-01', returned_on - date '1970-01-01', "
             "coalesce(reason, '') FROM churn_events WHERE $1 = 'either' OR source = $1 ORDER BY company_id, "
             "churn_day",
             std::string(core::name_of(settings_.churn)))) {
      ChurnOutcome o;
      o.company_id = r[0].as<std::int64_t>();
      o.churn_day = r[1].as<std::int32_t>();
      if (!r[2].is_null()) o.returned_on = r[2].as<std::int32_t>();
      o.reason = r[3].as<std::string>();
      out.push_back(std::move(o));
    }
    return out;
  });
}

std::vector<ExpansionOutcome> KpiStore::expansion_outcomes() {
  return db_.with_retry("kpis_expansion_outcomes", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_expansion_outcomes");
    const auto won = store::CrmRepository::won_stages(tx, {});
    std::vector<ExpansionOutcome> out;
    for (const auto& r : tx.exec_params(
             std::string("SELECT company_id, day - date '1970-01-01', 'mrr' FROM (SELECT s.company_id, s.day, ") + kMrr +
                 " AS mrr, lag(" + kMrr +
                 ") OVER (PARTITION BY s.company_id ORDER BY s.day) AS before FROM company_snapshots s WHERE " +
                 kHasMrr +
                 ") m WHERE before > 0 AND mrr > before "
                 "UNION ALL "
                 "SELECT a.to_id, (d.close_date AT TIME ZONE 'UTC')::date - date '1970-01-01', 'deal' "
                 "FROM deals d JOIN crm_associations a ON a.from_type = 'deals' AND a.from_id = d.id AND "
                 "a.to_type = 'companies' JOIN crm_objects o ON o.object_type = 'deals' AND o.id = d.id "
                 "WHERE NOT d.archived AND d.close_date IS NOT NULL AND d.stage = ANY($1::text[]) AND "
                 "o.fields->>'deal_type' = ANY($2::text[]) ORDER BY 1, 2",
             store::text_array(std::vector<std::string>(won.begin(), won.end())),
             store::text_array(std::vector<std::string>(settings_.upsell_deal_types.begin(),
                                                        settings_.upsell_deal_types.end())))) {
      ExpansionOutcome o;
      o.company_id = r[0].as<std::int64_t>();
      o.day = r[1].as<std::int32_t>();
      o.source = r[2].as<std::string>();
      out.push_back(std::move(o));
    }
    return out;
  });
}

std::size_t KpiStore::analyze_churns(pqxx::work& tx, std::int32_t day) {
  struct Event {
    std::int64_t company = 0;
    core::ChurnCase c;
  };
  std::vector<Event> events;
  for (const auto& r :
       tx.exec_params("SELECT company_id, churn_day FROM churn_events WHERE analyzed_on IS NULL OR "
                      "churn_day >= $1::date - 30 ORDER BY company_id, churn_day",
                      format_day(day))) {
    Event e;
    e.company = r[0].as<std::int64_t>();
    e.c.churn_day = *core::parse_day(r[1].as<std::string>());
    events.push_back(std::move(e));
  }
  constexpr std::size_t kBatch = 1000;
  for (std::size_t at = 0; at < events.size(); at += kBatch) {
    const auto end = std::min(events.size(), at + kBatch);
    std::vector<std::int64_t> ids;
    std::vector<std::string> days;
    std::map<std::pair<std::int64_t, std::int32_t>, core::ChurnCase*> by_key;
    std::multimap<std::int64_t, core::ChurnCase*> by_company;
    for (std::size_t i = at; i < end; ++i) {
      ids.push_back(events[i].company);
      days.push_back(format_day(events[i].c.churn_day));
      by_key[{events[i].company, events[i].c.churn_day}] = &events[i].c;
      by_company.emplace(events[i].company, &events[i].c);
    }
    const auto id_array = store::bigint_array(ids), day_array = store::text_array(days);
    // Daily scores over the 183 days before each churn.
    for (const auto& r : tx.exec_params("SELECT b.company_id, b.churn_day, h.day, h.score, h.status FROM "
                                        "unnest($1::bigint[], $2::date[]) AS "
                                        "b(company_id, churn_day) JOIN health_scores h ON h.company_id = "
                                        "b.company_id AND h.day < b.churn_day "
                                        "AND h.day >= b.churn_day - 183",
                                        id_array, day_array)) {
      auto* c = by_key.at({r[0].as<std::int64_t>(), *core::parse_day(r[1].as<std::string>())});
      c->history.push_back(
          {*core::parse_day(r[2].as<std::string>()), r[3].as<double>(), r[4].as<std::string>()});
    }
    // Alert tasks (the day the run that planned them scored) and when each was seen completed.
    for (const auto& r : tx.exec_params("SELECT o.company_id, r.as_of, tc.completed_on FROM outbox o JOIN "
                                        "runs r ON r.id = o.run_id LEFT JOIN "
                                        "task_completions tc ON tc.task_key = o.key WHERE o.kind = 'task' "
                                        "AND o.company_id = ANY($1::bigint[]) "
                                        "AND o.key LIKE 'alert:%'",
                                        id_array)) {
      const auto created = *core::parse_day(r[1].as<std::string>());
      std::optional<std::int32_t> done;
      if (!r[2].is_null()) done = core::parse_day(r[2].as<std::string>());
      const auto [lo, hi] = by_company.equal_range(r[0].as<std::int64_t>());
      for (auto it = lo; it != hi; ++it) {
        // Created within the 183 days before that churn.
        if (created <= it->second->churn_day && created >= it->second->churn_day - 183)
          it->second->alerts.push_back({created, done});
      }
    }
    std::vector<std::string> b30, b60, b90, lead, alerts, acted;
    for (std::size_t i = at; i < end; ++i) {
      const auto f = core::churn_facts(events[i].c);
      b30.push_back(f.band_before[0].value_or(""));
      b60.push_back(f.band_before[1].value_or(""));
      b90.push_back(f.band_before[2].value_or(""));
      lead.push_back(f.lead_days ? std::to_string(*f.lead_days) : "");
      alerts.push_back(std::to_string(f.alerts));
      acted.push_back(std::to_string(f.acted_on));
    }
    tx.exec_params(
        "UPDATE churn_events e SET band_30 = nullif(x.b30, ''), band_60 = nullif(x.b60, ''), band_90 = "
        "nullif(x.b90, ''), lead_days = nullif(x.lead, '')::int, alerts = x.alerts::int, alerts_acted = "
        "x.acted::int, analyzed_on = $9::date FROM unnest($1::bigint[], $2::date[], $3::text[], $4::text[], "
        "$5::text[], $6::text[], $7::text[], $8::text[]) AS x(company_id, churn_day, b30, b60, b90, lead, "
        "alerts, "
        "acted) WHERE e.company_id = x.company_id AND e.churn_day = x.churn_day",
        id_array, day_array, store::text_array(b30), store::text_array(b60), store::text_array(b90),
        store::text_array(lead), store::text_array(alerts), store::text_array(acted), format_day(day));
  }
  return events.size();
}

json KpiStore::churn_analysis(std::int32_t from, std::int32_t to, std::size_t limit) {
  const bool stage = settings_.churn != core::ChurnRule::kMrr,
             mrr = settings_.churn != core::ChurnRule::kStage;
  return db_.with_retry("kpis_churn_analysis", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_churn_analysis");
    const auto range = format_day(from), range_end = format_day(to);
    // The summary: every churn in the range, from what the nightly analysis kept of each.
    std::vector<core::ChurnFacts> all;
    std::map<std::string, std::int64_t> reasons;
    for (const auto& r : tx.exec_params(
             "SELECT band_30, band_60, band_90, lead_days, alerts, alerts_acted, coalesce(reason, 'unknown') "
             "FROM "
             "churn_events WHERE churn_day BETWEEN $1::date AND $2::date AND ((source = 'stage' AND $3) OR "
             "(source = 'mrr' AND $4))",
             range, range_end, stage, mrr)) {
      core::ChurnFacts f;
      f.band_before = {store::optional_text(r[0]), store::optional_text(r[1]), store::optional_text(r[2])};
      if (!r[3].is_null()) f.lead_days = r[3].as<int>();
      f.alerts = r[4].as<std::int64_t>();
      f.acted_on = r[5].as<std::int64_t>();
      all.push_back(std::move(f));
      ++reasons[r[6].as<std::string>()];
    }
    // The newest `limit` cases in detail.
    json items = json::array();
    std::vector<std::int64_t> ids;
    std::vector<std::string> days;
    std::map<std::pair<std::int64_t, std::string>, std::size_t> index;
    for (const auto& r : tx.exec_params(
             std::string(
                 "SELECT e.company_id, c.fields->>'name', e.churn_day, e.source, e.mrr_lost, e.reason, "
                 "e.owner_id, ") +
                 kOwnerName +
                 ", e.segment, e.returned_on, e.band_30, e.band_60, e.band_90, e.lead_days FROM churn_events "
                 "e LEFT "
                 "JOIN crm_objects c ON c.id = e.company_id AND c.object_type = 'companies' LEFT JOIN "
                 "crm_owners o "
                 "ON o.id::text = e.owner_id WHERE e.churn_day BETWEEN $1::date AND $2::date AND ((e.source "
                 "= "
                 "'stage' AND $3) OR (e.source = 'mrr' AND $4)) ORDER BY e.churn_day DESC, e.company_id "
                 "LIMIT $5",
             range, range_end, stage, mrr, static_cast<std::int64_t>(limit))) {
      const auto id = r[0].as<std::int64_t>();
      const auto day = r[2].as<std::string>();
      index[{id, day}] = items.size();
      ids.push_back(id);
      days.push_back(day);
      items.push_back(
          {{"company_id", std::to_string(id)},
           {"name", opt_text(r[1])},
           {"churn_day", day},
           {"source", r[3].as<std::string>()},
           {"mrr_lost", r[4].as<double>()},
           {"reason", opt_text(r[5])},
           {"owner_id", opt_text(r[6])},
           {"owner", opt_text(r[7])},
           {"segment", opt_text(r[8])},
           {"returned_on", opt_text(r[9])},
           {"band_before", {{"30", opt_text(r[10])}, {"60", opt_text(r[11])}, {"90", opt_text(r[12])}}},
           {"warning_lead_days", r[13].is_null() ? json(nullptr) : json(r[13].as<int>())},
           {"history", json::array()},
           {"signals", json::array()},
           {"alerts", json::array()}});
    }
    const auto id_array = store::bigint_array(ids), day_array = store::text_array(days);
    // Their scores week by week over the 6 months before (a trend, not every day), the signals that fired
    // (first and last day) and the alert tasks with when each was seen completed.
    for (const auto& r :
         tx.exec_params("SELECT b.company_id, b.churn_day, h.day, h.score, h.status FROM "
                        "unnest($1::bigint[], $2::date[]) AS "
                        "b(company_id, churn_day) JOIN health_scores h ON h.company_id = b.company_id AND "
                        "h.day < b.churn_day "
                        "AND h.day >= b.churn_day - 183 AND (b.churn_day - h.day) % 7 = 1 ORDER BY 1, 2, 3",
                        id_array, day_array))
      items[index.at({r[0].as<std::int64_t>(), r[1].as<std::string>()})]["history"].push_back(
          {{"day", r[2].as<std::string>()},
           {"score", r[3].as<double>()},
           {"status", r[4].as<std::string>()}});
    for (const auto& r : tx.exec_params(
             "SELECT b.company_id, b.churn_day, sig->>'name', min(h.day), max(h.day), count(*) FROM "
             "unnest($1::bigint[], $2::date[]) AS b(company_id, churn_day) JOIN health_scores h ON "
             "h.company_id = "
             "b.company_id AND h.day < b.churn_day AND h.day >= b.churn_day - 183 CROSS JOIN LATERAL "
             "jsonb_array_elements(h.signals) sig GROUP BY 1, 2, 3 ORDER BY 1, 2, 4",
             id_array, day_array))
      items[index.at({r[0].as<std::int64_t>(), r[1].as<std::string>()})]["signals"].push_back(
          {{"name", r[2].as<std::string>()},
           {"first_day", r[3].as<std::string>()},
           {"last_day", r[4].as<std::string>()},
           {"days", r[5].as<std::int64_t>()}});
    for (const auto& r : tx.exec_params(
             "SELECT b.company_id, b.churn_day, o.key, o.payload->>'subject', r.as_of, tc.completed_on, "
             "tc.completed_on <= b.churn_day FROM unnest($1::bigint[], $2::date[]) AS b(company_id, "
             "churn_day) "
             "JOIN outbox o ON o.kind = 'task' AND o.company_id = b.company_id AND o.key LIKE 'alert:%' JOIN "
             "runs r "
             "ON r.id = o.run_id AND r.as_of <= b.churn_day AND r.as_of >= b.churn_day - 183 LEFT JOIN "
             "task_completions tc ON tc.task_key = o.key ORDER BY 1, 2, o.id",
             id_array, day_array))
      items[index.at({r[0].as<std::int64_t>(), r[1].as<std::string>()})]["alerts"].push_back(
          {{"key", r[2].as<std::string>()},
           {"subject", opt_text(r[3])},
           {"created", r[4].as<std::string>()},
           {"completed", opt_text(r[5])},
           {"acted_on", !r[6].is_null() && r[6].as<bool>()}});
    const json summary = churn_summary_json(all, reasons);
    return json{{"from", range}, {"to", range_end}, {"summary", summary}, {"churns", items}};
  });
}

std::optional<json> KpiStore::company_page(std::int64_t id, int days) {
  return db_.with_retry("kpis_company_page", [&](pqxx::connection& c) -> std::optional<json> {
    pqxx::read_transaction tx(c, "kpis_company_page");
    const auto co = tx.exec_params(
        std::string("SELECT c.fields->>'name', c.fields->>'domain', c.fields->>'owner_id', ") + kOwnerName +
            ", c.fields->>'plan', (c.fields->>'mrr')::float8, left(c.fields->>'renewal_date', 10), "
            "c.fields->>'cs_stage', c.fields->>'churn_reason' FROM crm_objects c LEFT JOIN crm_owners o ON "
            "o.id::text = c.fields->>'owner_id' WHERE c.object_type = 'companies' AND c.id = $1",
        id);
    if (co.empty()) return std::nullopt;
    const auto& f = co[0];
    json out = {{"company_id", std::to_string(id)},
                {"name", opt_text(f[0])},
                {"domain", opt_text(f[1])},
                {"owner_id", opt_text(f[2])},
                {"owner", opt_text(f[3])},
                {"plan", opt_text(f[4])},
                {"mrr", opt_num(f[5])},
                {"renewal_date", opt_text(f[6])},
                {"cs_stage", opt_text(f[7])},
                {"churn_reason", opt_text(f[8])}};
    // Daily scores, and the days the configuration that scored them changed (a scorecard edit moves every
    // score: it is not the customer changing) or the company moved to another scorecard.
    json history = json::array(), changes = json::array();
    std::string last_fp, last_card;
    for (const auto& r : tx.exec_params(
             "SELECT h.day, h.score, h.status, h.scorecard, r.config_fingerprint FROM health_scores h JOIN "
             "score_runs r ON r.id = h.run_id WHERE h.company_id = $1 AND h.day > (SELECT max(day) FROM "
             "health_scores WHERE company_id = $1) - $2::int ORDER BY h.day",
             id, days)) {
      const auto fp = r[4].as<std::string>(), card = r[3].as<std::string>();
      history.push_back({{"day", r[0].as<std::string>()},
                         {"score", r[1].as<double>()},
                         {"status", r[2].as<std::string>()},
                         {"scorecard", card}});
      if (!last_fp.empty() && (fp != last_fp || card != last_card))
        changes.push_back({{"day", r[0].as<std::string>()},
                           {"kind", fp != last_fp ? "config" : "scorecard"},
                           {"scorecard", card},
                           {"fingerprint", fp}});
      last_fp = fp;
      last_card = card;
    }
    out["history"] = history;
    out["config_changes"] = changes;
    json tasks = json::array();
    for (const auto& r : tx.exec_params(
             "SELECT 'alert', e.rule, e.opened_on::text, e.task_open, e.escalated, NULL::text FROM "
             "alert_episodes "
             "e WHERE e.company_id = $1 AND e.task_key <> '' UNION ALL SELECT 'play', p.play || ':' || "
             "p.step, "
             "p.day::text, NULL, NULL, p.action FROM play_steps p WHERE p.company_id = $1 UNION ALL SELECT "
             "'onboarding', s.step, s.due_day::text, NOT s.completed, s.escalated, NULL FROM "
             "onboarding_steps s "
             "JOIN onboardings o ON o.deal_id = s.deal_id WHERE o.company_id = $1 ORDER BY 3 DESC LIMIT 200",
             id)) {
      tasks.push_back({{"kind", r[0].as<std::string>()},
                       {"name", r[1].as<std::string>()},
                       {"day", r[2].as<std::string>()},
                       {"open", r[3].is_null() ? json(nullptr) : json(r[3].as<bool>())},
                       {"escalated", r[4].is_null() ? json(nullptr) : json(r[4].as<bool>())},
                       {"action", opt_text(r[5])}});
    }
    out["tasks"] = tasks;
    return out;
  });
}

json KpiStore::freshness() {
  return db_.with_retry("kpis_freshness", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c, "kpis_freshness");
    const auto r = tx.exec(
        "SELECT (extract(epoch FROM (SELECT max(synced_at) FROM crm_objects)) * 1000)::bigint, "
        "(extract(epoch "
        "FROM (SELECT finished_at FROM score_runs WHERE finished_at IS NOT NULL AND error IS NULL ORDER BY "
        "id "
        "DESC LIMIT 1)) * 1000)::bigint, (SELECT as_of FROM score_runs WHERE finished_at IS NOT NULL AND "
        "error "
        "IS NULL ORDER BY id DESC LIMIT 1), (SELECT through FROM kpi_state), (extract(epoch FROM (SELECT "
        "computed_at FROM kpi_state)) * 1000)::bigint");
    const auto ts = [](const pqxx::field& f) -> json {
      return f.is_null() ? json(nullptr) : json(core::format_iso8601(f.as<std::int64_t>()));
    };
    return json{{"last_sync", ts(r[0][0])},
                {"last_score_run", ts(r[0][1])},
                {"scored_day", opt_text(r[0][2])},
                {"kpis_through", opt_text(r[0][3])},
                {"kpis_computed", ts(r[0][4])}};
  });
}

}  // namespace cshealthd::kpis
