#include "controller/policy.h"

#include <deque>
#include <mutex>
#include <random>
#include <sstream>

#include "absl/strings/str_format.h"
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
  EvolutionPolicy(const ss::SearchSpace& space, int population, int tournament, uint64_t seed)
      : space_(space), population_size_(population), tournament_(tournament), rng_(seed) {}
  v1::Algorithm algorithm() const override { return v1::ALGORITHM_EVOLUTION; }

  absl::StatusOr<Proposal> Propose() override {
    if (static_cast<int>(population_.size()) < population_size_) return Proposal{space_.Sample(rng_), {}, 0};
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
    try {
      for (const json& m : (*j)["population"]) {
        population.push_back({m["trial"].get<int64_t>(), m["d"].get<std::vector<int>>(), m["r"].get<double>()});
      }
    } catch (const json::exception& e) {
      return absl::InvalidArgumentError(absl::StrFormat("evolution: bad population: %s", e.what()));
    }
    rng_ = rng;
    population_ = std::move(population);
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
  std::mt19937_64 rng_;
  std::deque<Member> population_;
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
                                           uint64_t seed) {
  return std::make_unique<EvolutionPolicy>(space, population, tournament, seed);
}

void SetRlPolicyFactory(RlPolicyFactory factory) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  Factory() = std::move(factory);
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(const ss::SearchSpace& space, const v1::ExperimentConfig& config) {
  const v1::AlgorithmConfig& a = config.algorithm();
  const v1::Algorithm kind = AlgorithmOf(a);
  if (kind == v1::ALGORITHM_RANDOM) return NewRandomPolicy(space, config.seed());
  if (kind == v1::ALGORITHM_EVOLUTION) return NewEvolutionPolicy(space, a.population(), a.tournament(), config.seed());
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
    return factory(space, a, config.seed());
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
