#include "generator_parts.hpp"

#include <algorithm>
#include <cmath>

#include "cshealthd/core/time.hpp"

namespace cshealthd::sim::parts {

Owners make_owners(Portal& p, int companies) {
  Owners o;
  const int csms = std::max(3, companies / 100);
  const int managers = std::max(1, csms / 8);
  int id = 90001;
  for (int i = 0; i < managers + csms; ++i) {
    const bool manager = i < managers;
    const bool high_touch = i % 2 == 0;
    const std::string oid = std::to_string(id++);
    nlohmann::json team = {{"id", high_touch ? "301" : "302"},
                           {"name", high_touch ? "CS High Touch" : "CS Tech Touch"},
                           {"primary", true}};
    p.owners.push_back({{"id", oid},
                        {"email", (manager ? "manager" : "csm") + std::to_string(i) + "@vendor.example"},
                        {"type", "PERSON"},
                        {"firstName", manager ? "Manager" : "CSM"},
                        {"lastName", std::to_string(i)},
                        {"userId", 7'000'000 + i},
                        {"teams", nlohmann::json::array({team})},
                        {"archived", false},
                        {"createdAt", "2023-01-01T00:00:00.000Z"},
                        {"updatedAt", "2023-01-01T00:00:00.000Z"}});
    if (!manager) o.csm_ids.push_back(oid);
  }
  // The onboarding team (seed 004: specialists who hand customers over to CSMs); the last one has left
  // (archived), as happens, and must never get a customer.
  for (int i = 0; i < 4; ++i) {
    p.owners.push_back(
        {{"id", std::to_string(id++)},
         {"email", "onboarding" + std::to_string(i) + "@vendor.example"},
         {"type", "PERSON"},
         {"firstName", "Onboarding"},
         {"lastName", std::to_string(i)},
         {"userId", 7'100'000 + i},
         {"teams", nlohmann::json::array({{{"id", "303"}, {"name", "Onboarding"}, {"primary", true}}})},
         {"archived", i == 3},
         {"createdAt", "2023-01-01T00:00:00.000Z"},
         {"updatedAt", "2023-01-01T00:00:00.000Z"}});
  }
  return o;
}

std::string num(double v) {
  return std::to_string(static_cast<long long>(std::llround(v)));
}

Plan draw_plan(Rng& rng) {
  Plan p;
  const double tier = rng.uniform();
  p.plan = tier < 0.5 ? "starter" : (tier < 0.85 ? "professional" : "enterprise");
  p.mrr = p.plan == "starter"        ? rng.uniform(200, 1000)
          : p.plan == "professional" ? rng.uniform(1000, 5000)
                                     : rng.uniform(5000, 30000);
  p.seats = p.plan == "starter"        ? rng.integer(5, 25)
            : p.plan == "professional" ? rng.integer(20, 120)
                                       : rng.integer(100, 600);
  return p;
}

Record& add_contact(Portal& p, int n, int k, EpochMs created, std::uint64_t company) {
  const auto& contacts = *find_type("contacts");
  Record& ct = p.create(contacts,
                        {{"firstname", "Person" + std::to_string(k + 1)},
                         {"lastname", std::string("C").append(std::to_string(n))},
                         {"email", std::string("p").append(std::to_string(k + 1)) + "@company" + std::to_string(n) +
                                       ".example"},
                         {"cs_key_person", k == 0 ? "true" : "false"}},
                        created + k * core::kMsPerDay, "IMPORT");
  p.associate(contacts, ct.id, *find_type("companies"), company);
  return ct;
}

void depart(Record& contact, EpochMs left) {
  contact.set("cs_departed", "true", left, "CRM_UI");
  contact.updated = left;
  contact.set(find_type("contacts")->modified_prop, core::format_iso8601(left), left, "CALCULATED");
}

void add_closed_won(Portal& p, int n, const std::string& plan, double mrr, EpochMs contract_start,
                    const std::string& owner, std::uint64_t company) {
  const auto& deals = *find_type("deals");
  Record& deal = p.create(deals,
                          {{"dealname", "Company " + std::to_string(n) + " - " + plan},
                           {"dealstage", "closedwon"},
                           {"pipeline", "default"},
                           {"amount", num(mrr * 12)},
                           {"closedate", core::format_iso8601(contract_start)},
                           {"hubspot_owner_id", owner}},
                          contract_start - 20 * core::kMsPerDay, "IMPORT");
  p.associate(deals, deal.id, *find_type("companies"), company);
}

void add_ticket(Portal& p, int k, EpochMs opened, const char* priority, const char* category, bool open,
                EpochMs ttc, EpochMs now, std::uint64_t company) {
  const auto& tickets = *find_type("tickets");
  Record& t = p.create(tickets,
                       {{"subject", std::string(category) + " #" + std::to_string(k + 1)},
                        {"hs_pipeline", "0"},
                        {"hs_pipeline_stage", open ? "1" : "4"},
                        {"hs_ticket_priority", priority},
                        {"hs_ticket_category", category}},
                       opened, "INTEGRATION");
  if (!open && opened + ttc < now) {
    t.set("closed_date", core::format_iso8601(opened + ttc), opened + ttc, "CALCULATED");
    t.set("time_to_close", std::to_string(ttc), opened + ttc, "CALCULATED");
    t.updated = opened + ttc;
    t.set(tickets.modified_prop, core::format_iso8601(t.updated), t.updated, "CALCULATED");
  }
  p.associate(tickets, t.id, *find_type("companies"), company);
}

void add_answer(Portal& p, const char* survey, int value, EpochMs at, std::uint64_t contact, std::uint64_t company) {
  const auto& feedback = *find_type("feedback_submissions");
  const char* group = value >= 9 ? "PROMOTER" : value >= 7 ? "PASSIVE" : "DETRACTOR";
  Record& f = p.create(feedback,
                       {{"hs_survey_type", survey},
                        {"hs_value", std::to_string(value)},
                        {"hs_response_group", group},
                        {"hs_submission_timestamp", core::format_iso8601(at)},
                        {"hs_createdate", core::format_iso8601(at)}},
                       at, "INTEGRATION");
  p.associate(feedback, f.id, *find_type("contacts"), contact);
  p.associate(feedback, f.id, *find_type("companies"), company);
}

void add_meeting(Portal& p, EpochMs start, const char* outcome, const std::string& owner, std::uint64_t company) {
  const auto& meetings = *find_type("meetings");
  Record& m = p.create(meetings,
                       {{"hs_meeting_title", "CS check-in"},
                        {"hs_meeting_start_time", core::format_iso8601(start)},
                        {"hs_meeting_end_time", core::format_iso8601(start + 1'800'000)},
                        {"hs_timestamp", core::format_iso8601(start)},
                        {"hs_meeting_outcome", outcome},
                        {"hubspot_owner_id", owner}},
                       start - 7 * core::kMsPerDay, "INTEGRATION");
  p.associate(meetings, m.id, *find_type("companies"), company);
}

}  // namespace cshealthd::sim::parts
