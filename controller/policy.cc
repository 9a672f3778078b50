#include "controller/policy.h"

#include <cmath>
#include <deque>
#include <mutex>
#include <random>
#include <sstream>

#include "absl/strings/str_format.h"
#include "controller/config.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"

namespace vertebra::controller {
namespace {

using json = nlohmann::json;
namespace ss = search_spaces;

std::string RngState(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

bool SetRngState(const std::string& state, std::mt19937_64& rng) {
  std::istringstream in(state);
  in >> rng;
  return !in.fail();
}

// A checkpoint names its algorithm in its word ("random").
absl::StatusOr<json> ParseState(const std::string& state, v1::Algorithm algorithm) {
  json j = json::parse(state, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("algorithm", "") != KindName(algorithm)) {
    return absl::InvalidArgumentError(absl::StrFormat("not a checkpoint of the %s policy", KindName(algorithm)));
  }
  return j;
}

class RandomPolicy : public Policy {
 public:
  RandomPolicy(const ss::SearchSpace& space, uint64_t seed) : space_(space), rng_(seed) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_RANDOM; }
  absl::StatusOr<Proposal> Propose() override { return Proposal{space_.Sample(rng_), {}, 0}; }
  absl::Status Observe(const Observation&) override { return absl::OkStatus(); }
  std::string Save() const override { return json{{"algorithm", std::string(KindName(algorithm()))}, {"rng", RngState(rng_)}}.dump(); }
  absl::Status Restore(const std::string& state) override {
    absl::StatusOr<json> j = ParseState(state, algorithm());
    if (!j.ok()) return j.status();
    if (!SetRngState(j->value("rng", ""), rng_)) return absl::InvalidArgumentError("random: bad RNG state");
    return absl::OkStatus();
  }

 private:
  const ss::SearchSpace& space_;
  std::mt19937_64 rng_;
};

class EvolutionPolicy : public Policy {
 public:
  EvolutionPolicy(const ss::SearchSpace& space, int population, int tournament, uint64_t seed,
                  std::vector<std::vector<int>> seeds)
      : space_(space), population_size_(population), tournament_(tournament), seeds_(std::move(seeds)), rng_(seed) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_EVOLUTION; }

  absl::StatusOr<Proposal> Propose() override {
    if (static_cast<int>(population_.size()) < population_size_) {
      if (seeds_.empty()) return Proposal{space_.Sample(rng_), {}, 0};
      // The first population: every seed, then mutants of seeds.
      if (seeded_ < static_cast<int64_t>(seeds_.size())) return Proposal{seeds_[seeded_++], {}, 0};
      std::uniform_int_distribution<size_t> pick(0, seeds_.size() - 1);
      return Proposal{space_.Mutate(seeds_[pick(rng_)], rng_), {}, 0};
    }
    // Tournament: the best of `tournament_` members drawn with replacement (the first on ties).
    std::uniform_int_distribution<size_t> pick(0, population_.size() - 1);
    const Member* best = nullptr;
    for (int i = 0; i < tournament_; ++i) {
      const Member& m = population_[pick(rng_)];
      if (best == nullptr || m.reward > best->reward) best = &m;
    }
    return Proposal{space_.Mutate(best->decisions, rng_), {}, best->trial};
  }

  absl::Status Observe(const Observation& o) override {
    population_.push_back({o.trial, o.decisions, o.reward});
    // Aging: the oldest member dies, whatever its fitness.
    while (static_cast<int>(population_.size()) > population_size_) population_.pop_front();
    return absl::OkStatus();
  }

  std::string Save() const override {
    json members = json::array();
    for (const Member& m : population_) members.push_back({{"trial", m.trial}, {"d", m.decisions}, {"r", m.reward}});
    return json{{"algorithm", std::string(KindName(algorithm()))},
                {"rng", RngState(rng_)},
                {"population_size", population_size_},
                {"tournament", tournament_},
                {"seeded", seeded_},
                {"population", members}}
        .dump();
  }

  absl::Status Restore(const std::string& state) override {
    absl::StatusOr<json> j = ParseState(state, algorithm());
    if (!j.ok()) return j.status();
    if ((*j)["population_size"] != population_size_ || (*j)["tournament"] != tournament_) {
      return absl::InvalidArgumentError("evolution: the checkpoint was made with another population or tournament");
    }
    std::mt19937_64 rng;
    if (!SetRngState(j->value("rng", ""), rng)) return absl::InvalidArgumentError("evolution: bad RNG state");
    std::deque<Member> population;
    int64_t seeded = 0;
    try {
      for (const json& m : (*j)["population"]) {
        population.push_back({m["trial"].get<int64_t>(), m["d"].get<std::vector<int>>(), m["r"].get<double>()});
      }
      seeded = j->value("seeded", int64_t{0});  // Absent in checkpoints made before seeds.
    } catch (const json::exception& e) {
      return absl::InvalidArgumentError(absl::StrFormat("evolution: bad population: %s", e.what()));
    }
    rng_ = rng;
    population_ = std::move(population);
    seeded_ = seeded;
    return absl::OkStatus();
  }

 private:
  struct Member {
    int64_t trial;
    std::vector<int> decisions;
    double reward;
  };
  const ss::SearchSpace& space_;
  const int population_size_;
  const int tournament_;
  const std::vector<std::vector<int>> seeds_;
  std::mt19937_64 rng_;
  std::deque<Member> population_;
  int64_t seeded_ = 0;  // Seeds proposed as they are.
};

std::mutex& FactoryMutex() {
  static std::mutex mu;
  return mu;
}

RlPolicyFactory& Factory() {
  static RlPolicyFactory factory;
  return factory;
}

}  // namespace

std::unique_ptr<Policy> NewRandomPolicy(const ss::SearchSpace& space, uint64_t seed) {
  return std::make_unique<RandomPolicy>(space, seed);
}

std::unique_ptr<Policy> NewEvolutionPolicy(const ss::SearchSpace& space, int population, int tournament,
                                           uint64_t seed, std::vector<std::vector<int>> seeds) {
  return std::make_unique<EvolutionPolicy>(space, population, tournament, seed, std::move(seeds));
}

absl::StatusOr<std::vector<std::vector<int>>> SeedDecisions(const ss::SearchSpace& space,
                                                           const v1::ExperimentConfig& config) {
  std::vector<std::vector<int>> out;
  for (int i = 0; i < config.seed_architectures_size(); ++i) {
    absl::StatusOr<ControlArchitecture> arch = LoadSeedArchitecture(config, i);
    if (!arch.ok()) return arch.status();
    absl::StatusOr<std::vector<int>> decisions = space.Encode(arch->spec);
    if (!decisions.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("seed_architectures[%d]: \"%s\" is not in the search space: %s",
                                                        i, config.seed_architectures(i), decisions.status().message()));
    }
    out.push_back(*std::move(decisions));
  }
  return out;
}

double ObjectiveReward(const v1::ExperimentConfig& config, double ap_at_top, int64_t macs) {
  const v1::ObjectiveConfig& o = config.objective();
  double reward = ap_at_top;
  if (ObjectiveOf(o) == v1::OBJECTIVE_AP_MACS && o.target_macs() > 0 && macs > 0) {
    reward *= std::pow(static_cast<double>(macs) / o.target_macs(), o.macs_weight());
  }
  return reward;
}

void SetRlPolicyFactory(RlPolicyFactory factory) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  Factory() = std::move(factory);
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const ss::SearchSpace& space, const v1::ExperimentConfig& config) {
  const v1::AlgorithmConfig& a = config.algorithm();
  const v1::Algorithm kind = AlgorithmOf(a);
  if (kind == v1::ALGORITHM_RANDOM) return NewRandomPolicy(space, config.seed());
  absl::StatusOr<std::vector<std::vector<int>>> seeds = SeedDecisions(space, config);
  if (!seeds.ok()) return seeds.status();
  if (kind == v1::ALGORITHM_EVOLUTION) {
    return NewEvolutionPolicy(space, a.population(), a.tournament(), config.seed(), *std::move(seeds));
  }
  if (IsRlAlgorithm(kind)) {
    RlPolicyFactory factory;
    {
      std::lock_guard<std::mutex> lock(FactoryMutex());
      factory = Factory();
    }
    if (!factory) {
      return absl::UnimplementedError(
          absl::StrFormat("algorithm.kind \"%s\" needs the LibTorch controller, which this build lacks", a.kind()));
    }
    return factory(space, a, config.seed(), *seeds);
  }
  return absl::InvalidArgumentError(absl::StrFormat("algorithm.kind: unknown \"%s\"", a.kind()));
}

absl::StatusOr<ss::SearchSpace> MakeSearchSpace(const v1::ExperimentConfig& config) {
  ss::SearchSpaceOptions options;
  if (config.search_space().intermediate_pool_size() > 0) {
    options.intermediate_pool.assign(config.search_space().intermediate_pool().begin(),
                                     config.search_space().intermediate_pool().end());
  }
  if (config.search_space().parent_window() > 0) {
    options.intermediate_parent_window = config.search_space().parent_window();
  }
  return ss::SearchSpace::Create(options);
}

}  // namespace vertebra::controller
