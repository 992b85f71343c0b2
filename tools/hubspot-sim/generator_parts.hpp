#pragma once
// What the portal generators share (private to the simulator): a portable random stream and the owners
// of a generated portal (CSMs in two teams, their managers, the onboarding team).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "portal.hpp"

namespace cshealthd::sim::parts {

// splitmix64: the same numbers on every platform and standard library, unlike <random>'s distributions.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  int integer(int a, int b) { return a + static_cast<int>(next() % static_cast<std::uint64_t>(b - a + 1)); }
  bool chance(double p) { return uniform() < p; }
  template <typename T, std::size_t N>
  const T& pick(const std::array<T, N>& xs) {
    return xs[next() % N];
  }

 private:
  std::uint64_t s_;
};

struct Owners {
  std::vector<std::string> csm_ids;
};

// Managers, CSMs (about one per 100 companies, at least 3) and four onboarding specialists, one of whom
// has left (archived).
Owners make_owners(Portal& p, int companies);

// A company's plan (half starter, 35 % professional, 15 % enterprise), its MRR and its seats.
struct Plan {
  std::string plan;
  double mrr = 0, seats = 0;
};
Plan draw_plan(Rng& rng);

// The records every generated company has, made the same way by every model. `n` is the company's
// number (1-based, as in its name), `company` its record id.
// Contact k (0-based; the first is the key person), associated with the company.
Record& add_contact(Portal& p, int n, int k, EpochMs created, std::uint64_t company);
// The contact's departure (cs_departed), dated.
void depart(Record& contact, EpochMs left);
// The purchase: a Closed Won deal at the contract start.
void add_closed_won(Portal& p, int n, const std::string& plan, double mrr, EpochMs contract_start,
                    const std::string& owner, std::uint64_t company);
// A ticket opened at `opened`; closed `ttc` later unless `open` (or the close would be after `now`).
void add_ticket(Portal& p, int k, EpochMs opened, const char* priority, const char* category, bool open,
                EpochMs ttc, EpochMs now, std::uint64_t company);
// An NPS or CSAT answer by `contact`.
void add_answer(Portal& p, const char* survey, int value, EpochMs at, std::uint64_t contact, std::uint64_t company);
// A CS check-in of half an hour with `outcome`.
void add_meeting(Portal& p, EpochMs start, const char* outcome, const std::string& owner, std::uint64_t company);

std::string num(double v);

}  // namespace cshealthd::sim::parts
