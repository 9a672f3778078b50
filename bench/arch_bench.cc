#include "bench/arch_bench.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/decisions.h"
#include "search_spaces/resolve.h"

namespace vertebra::bench {
namespace {

namespace ss = ::vertebra::search_spaces;
using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

absl::Status RunArchBench(const ArchBenchOptions& o, std::ostream& out) {
  ASSIGN_OR_RETURN(const ss::SearchSpace space, ss::SearchSpace::Create(ss::SearchSpaceOptions{}));
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> sequences;
  sequences.reserve(o.count);
  for (int i = 0; i < o.count; ++i) sequences.push_back(space.Sample(rng));

  Clock::duration decode{}, validate{}, resolve{}, cost{}, hash{};
  int64_t checksum = 0;  // Keeps the optimizer from dropping the work.
  const Clock::time_point start = Clock::now();
  for (const std::vector<int>& d : sequences) {
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<v1::ArchSpec> spec = space.Decode(d);
    Clock::time_point t1 = Clock::now();
    if (!spec.ok()) return spec.status();
    const absl::Status valid = ss::ValidateArchSpec(*spec);
    Clock::time_point t2 = Clock::now();
    if (!valid.ok()) return valid;
    absl::StatusOr<ss::ResolvedGraph> graph = ss::Resolve(*spec, o.size, o.size);
    Clock::time_point t3 = Clock::now();
    if (!graph.ok()) return graph.status();
    const ss::Cost c = ss::CountCost(*graph, ss::HeadOptions{});
    Clock::time_point t4 = Clock::now();
    const std::string h = ss::ArchHash(*spec);
    Clock::time_point t5 = Clock::now();
    checksum += c.total_params + h[0];
    decode += t1 - t0;
    validate += t2 - t1;
    resolve += t3 - t2;
    cost += t4 - t3;
    hash += t5 - t4;
  }
  const double total_us = Micros(Clock::now() - start) / o.count;
  const double n = o.count;
  if (o.json) {
    out << nlohmann::json{{"count", o.count},
                          {"input_size", o.size},
                          {"us_per_arch", total_us},
                          {"decode_us", Micros(decode) / n},
                          {"validate_us", Micros(validate) / n},
                          {"resolve_us", Micros(resolve) / n},
                          {"cost_us", Micros(cost) / n},
                          {"hash_us", Micros(hash) / n},
                          {"checksum", checksum}}
               .dump()
        << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat(
      "%d sampled architectures, input %d: %.2f us per architecture end to end\n"
      "  decode %.2f us, validate %.2f us, resolve %.2f us (validates again), cost %.2f us, hash %.2f us\n",
      o.count, o.size, total_us, Micros(decode) / n, Micros(validate) / n, Micros(resolve) / n, Micros(cost) / n,
      Micros(hash) / n);
  return absl::OkStatus();
}

}  // namespace vertebra::bench
