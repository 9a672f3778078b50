#include "controller/config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "proto/kinds.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"
#include "search_spaces/proxy.h"

namespace vertebra::controller {
namespace {

using json = nlohmann::json;
namespace pb = google::protobuf;

// Reads one JSON object field by field, remembering which keys it used, so that whatever is left
// is an unknown key (a typo must not silently fall back to a default).
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string Field(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  // The value of `key`, or nullptr when it is absent (the default stays). A null is not absent:
  // it fails the caller's type check, as a typo'd value would.
  const json* Find(absl::string_view key) {
    used_.insert(std::string(key));
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &*it;
  }

  absl::Status Finish() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (used_.count(it.key()) == 0) return absl::InvalidArgumentError(Field(it.key()) + ": unknown key");
    }
    return absl::OkStatus();
  }

  absl::Status Bad(absl::string_view key, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat(Field(key), ": ", why));
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

enum class Type {
  kNumber,       // A double in [lo, hi].
  kInteger,      // An int32, int64 or (seed) uint64 in [min, max].
  kText,         // Any string.
  kWord,         // One of words(), in the order errors list them.
  kFlag,         // true or false.
  kIntegerList,  // At least min_items integers, each in [min, max].
  kTextList,     // Strings, each non-empty.
};

using Check = absl::Status (*)(v1::ExperimentConfig& config, const ObjectReader& reader);

// One field of the experiment file: where it lives in v1::ExperimentConfig (a section, the name of
// one of its message fields, or "" for the top level; the JSON key is the proto field's name),
// what it may hold, what it is when the file leaves it out, and what it means. The table below
// drives reading, range checks, defaults and the writer.
struct Field {
  Field(absl::string_view section, absl::string_view key, absl::string_view doc)
      : section(section), key(key), doc(doc) {}

  absl::string_view section;
  absl::string_view key;
  absl::string_view doc;
  Type type = Type::kText;
  double lo = 0, hi = 0;                          // kNumber.
  int64_t min = 0, max = 0;                       // kInteger, kIntegerList.
  double number = 0;                              // Default of kNumber.
  int64_t integer = 0;                            // Default of kInteger.
  absl::string_view text;                         // Default of kText, kWord.
  bool flag = false;                              // Default of kFlag.
  std::vector<std::string> (*words)() = nullptr;  // kWord.
  size_t min_items = 0;                           // kIntegerList.
  // Run right after the field is read (given or not); an error names the field.
  Check check = nullptr;

  // What the field holds, with its default (a list's is empty).
  Field&& Number(double from, double to, double fallback) && {
    return Set(Type::kNumber, [&] {
      lo = from;
      hi = to;
      number = fallback;
    });
  }
  Field&& Integer(int64_t from, int64_t to, int64_t fallback) && {
    return Set(Type::kInteger, [&] {
      min = from;
      max = to;
      integer = fallback;
    });
  }
  Field&& Text(absl::string_view fallback) && {
    return Set(Type::kText, [&] { text = fallback; });
  }
  Field&& Word(std::vector<std::string> (*allowed)(), absl::string_view fallback) && {
    return Set(Type::kWord, [&] {
      words = allowed;
      text = fallback;
    });
  }
  Field&& Flag(bool fallback) && {
    return Set(Type::kFlag, [&] { flag = fallback; });
  }
  Field&& IntegerList(int64_t from, int64_t to, size_t at_least) && {
    return Set(Type::kIntegerList, [&] {
      min = from;
      max = to;
      min_items = at_least;
    });
  }
  Field&& TextList() && {
    return Set(Type::kTextList, [] {});
  }
  Field&& Then(Check c) && {
    return Set(type, [&] { check = c; });
  }

 private:
  template <typename Fill>
  Field&& Set(Type t, Fill fill) {
    type = t;
    fill();
    return std::move(*this);
  }
};

constexpr double kHuge = std::numeric_limits<double>::max();
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxSteps = int64_t{1} << 40;  // Far beyond any training run.
// algorithm.update_every when the file leaves it out and budget.parallel is smaller.
constexpr int32_t kDefaultUpdateEvery = 8;
// rungs.steps when the file leaves it out: one rung.
constexpr int64_t kDefaultSteps = 500;
// Object classes of a detection head: far beyond any dataset (LVIS has 1,203).
constexpr int64_t kMaxClasses = 100000;
// lease.promotion_wait_seconds when the file leaves it out: ten minutes. The scheduler caps the wait
// at the held steps' own training time (past it, retraining at once would have caught up), so a
// short rung waits less; the ten minutes bound it for long ones.
constexpr double kDefaultPromotionWait = 600;
// The section whose presence makes the experiment simulated; its defaults apply only then.
constexpr absl::string_view kSimulation = "simulation";

// The name becomes folder and file names (`launch` writes runs/NAME/): nothing that could leave
// the folder or need quoting.
absl::Status CheckName(v1::ExperimentConfig& c, const ObjectReader& r) {
  const std::string& name = c.name();
  if (name.empty()) return r.Bad("name", "required, a non-empty string");
  const bool safe = name.size() <= 100 && std::isalnum(static_cast<unsigned char>(name[0])) &&
                    std::all_of(name.begin(), name.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
                    });
  if (!safe) {
    return r.Bad("name", absl::StrFormat("must be up to 100 letters, digits, '.', '_' or '-', starting with a letter "
                                         "or digit (it names folders), got \"%s\"",
                                         name.substr(0, 120)));
  }
  return absl::OkStatus();
}

absl::Status CheckData(v1::ExperimentConfig& c, const ObjectReader& r) {
  if (c.proxy().data().empty()) return r.Bad("data", "must not be empty");
  return absl::OkStatus();
}

absl::Status CheckSteps(v1::ExperimentConfig& c, const ObjectReader& r) {
  const auto& steps = c.rungs().steps();
  for (int k = 1; k < steps.size(); ++k) {
    if (steps[k] <= steps[k - 1]) {
      return r.Bad(absl::StrFormat("steps[%d]", k),
                   absl::StrFormat("must be larger than rungs.steps[%d] (%d), got %d", k - 1, steps[k - 1], steps[k]));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> ScalingNames() { return search_spaces::ModelScaleNames(); }

// The file's fields, in the order they are read (the first error found is the one reported).
// 3e-3 for the RL learning rate: the top of the range ENAS and Zoph & Le used (3.5e-4, 6e-4)
// scaled for searches of hundreds of trials; no rate from 3e-4 to 3e-2 was worse on the simulated
// objective (bench/results/rl-learning-rate.csv, README "On the simulated objective"). ENAS's
// controller: temperature 5 and tanh constant 2.5 keep it exploring. The "wsd" schedule is the
// annealed reading (bench/fidelity_study.py): a rung read at the end of a short cool-down ranks
// like a long run; one read mid-schedule at a high learning rate does not.
const std::vector<Field>& Fields() {
  static const std::vector<Field>* const kFields = new std::vector<Field>{
      Field("", "name", "required: names the experiment, its folder and its files").Text("").Then(CheckName),
      Field("", "seed", "seeds the policy, the proposals and the workers' training").Integer(0, kMaxInt64, 1),
      Field("", "allow_repeats", "train an architecture again even when its hash has a result").Flag(false),
      Field("", "controls", "reference architectures trained at every rung beside the trials: family names "
                            "(\"spinenet-49\") or spec files")
          .TextList(),
      Field("", "seed_architectures", "known architectures the search starts from: family names or spec files; "
                                      "evolution's first population is them and their mutants")
          .TextList(),

      Field("search_space", "intermediate_pool", "levels of the intermediate blocks (SpineNet-49's)")
          .IntegerList(2, 7, 0),
      Field("search_space", "parent_window", "how far back a block may take its parents (5)").Integer(2, 64, 0),

      Field("algorithm", "kind", "the search policy").Word(KindNames<v1::Algorithm>, KindName(v1::ALGORITHM_EVOLUTION)),
      Field("algorithm", "learning_rate", "Adam, on the LSTM controller").Number(1e-8, 10, 0.003),
      Field("algorithm", "hidden", "LSTM width").Integer(4, 4096, 64),
      Field("algorithm", "entropy_weight", "entropy bonus").Number(0, 10, 0.01),
      Field("algorithm", "baseline_decay", "moving-average reward baseline").Number(0, 0.9999, 0.9),
      Field("algorithm", "ppo_clip", "PPO ratio clip").Number(0.01, 10, 0.2),
      Field("algorithm", "ppo_epochs", "PPO passes over each batch of results").Integer(1, 100, 4),
      Field("algorithm", "update_every", "results per policy update (max(8, budget.parallel))").Integer(1, 100000, 0),
      Field("algorithm", "temperature", "RL logits l become c tanh(l / T); 0 leaves out the division")
          .Number(0, 1000, 5),
      Field("algorithm", "tanh_constant", "c above; 0 leaves out the tanh").Number(0, 1000, 2.5),
      Field("algorithm", "failure_penalty", "the reward a failed trial is observed with").Number(-1e6, 1e6, 0),
      Field("algorithm", "population", "regularized evolution's population").Integer(2, 1000000, 32),
      Field("algorithm", "tournament", "regularized evolution's tournament (<= population)").Integer(1, 1000000, 8),
      Field("algorithm", "queue", "proposals made ahead of demand").Integer(1, 10000, 4),
      Field("algorithm", "clone_steps", "RL: Adam steps of behaviour cloning on seed_architectures before the "
                                        "first proposal (0: none)")
          .Integer(0, 100000, 0),

      Field("budget", "trials", "proposals that reach a worker").Integer(1, kMaxInt, 100),
      Field("budget", "parallel", "trials leased at once").Integer(1, 100000, 4),
      Field("budget", "wall_hours", "0: no limit").Number(0, 1e6, 0),

      Field("proxy", "data", "\"synthetic[:k=v,...]\" or \"coco:ANNOTATIONS:IMAGES\"")
          .Text("synthetic")
          .Then(CheckData),
      Field("proxy", "val", "optional held-out dataset").Text(""),
      Field("proxy", "held_out", "held-out images of data").Integer(0, kMaxInt, 0),
      Field("proxy", "size", "input size in pixels").Integer(32, 4096, 128),
      Field("proxy", "scaling", "the model scaling trials train at").Word(ScalingNames, "proxy"),
      Field("proxy", "batch", "images per step").Integer(1, 65536, 16),
      Field("proxy", "learning_rate", "peak learning rate").Number(1e-8, 100, 0.002),
      Field("proxy", "maxup", "augmented copies per image (MaxUp)").Integer(1, 64, 1),
      Field("proxy", "threads", "training threads per worker").Integer(1, 1024, 1),
      Field("proxy", "eval_every", "held-out AP every N steps (0: at the end only)").Integer(0, kMaxSteps, 0),
      Field("proxy", "eval_batch", "held-out images per forward pass of an evaluation (the AP is the same)")
          .Integer(1, 4096, 32),
      Field("proxy", "anchor_scale", "anchor base size / stride (0: the scaling's)").Number(0, 64, 0),
      Field("proxy", "schedule", "how a rung reads a trial's run")
          .Word(KindNames<v1::Schedule>, KindName(v1::SCHEDULE_WSD)),
      Field("proxy", "cooldown_fraction", "wsd: the cool-down's share of a rung's steps").Number(0.01, 1, 0.15),
      Field("proxy", "ema_decay", "ema: the decay of the weights' moving average").Number(0.5, 0.9999, 0.99),
      Field("proxy", "classes", "the data's object classes (3 for synthetic, else 80)").Integer(1, kMaxClasses, 0),
      Field("proxy", "precision",
            "what trials compute in: auto (bf16 on a CPU with AVX512_BF16 or AMX, else fp32), fp32 or bf16")
          .Word(KindNames<v1::Precision>, KindName(v1::PRECISION_AUTO)),

      Field("rungs", "steps", "budget of each rung, increasing ([500])").IntegerList(1, kMaxSteps, 1).Then(CheckSteps),
      Field("rungs", "eta", "promote the top 1/eta of a rung's results").Integer(2, 1000, 3),

      Field("objective", "kind", "AP, or AP x (MACs / target_macs)^macs_weight")
          .Word(KindNames<v1::Objective>, KindName(v1::OBJECTIVE_AP)),
      Field("objective", "target_macs", "ap_macs: required").Number(0, kHuge, 0),
      Field("objective", "macs_weight", "ap_macs: the exponent w").Number(-10, 10, -0.07),
      Field("objective", "max_macs", "hard limit (0: none), priced at proxy.size with the head")
          .Integer(0, kMaxInt64, 0),
      Field("objective", "max_params", "hard limit (0: none)").Integer(0, kMaxInt64, 0),
      Field("objective", "penalty", "the reward of a rejected proposal").Number(-1e6, 1e6, 0),

      Field("lease", "lease_seconds", "how long a lease lasts without a heartbeat").Number(0.01, 1e7, 900),
      Field("lease", "heartbeat_seconds", "at most half of lease_seconds").Number(0.001, 1e7, 15),
      Field("lease", "max_attempts", "leases a trial may get before it fails").Integer(1, 1000, 3),
      Field("lease", "promotion_wait_seconds",
            "how long a trial whose state a live worker holds waits for that worker before another one retrains it "
            "(at most as long as training the held steps took)")
          .Number(0, 1e7, kDefaultPromotionWait),

      Field("simulation", "seconds", "wall time per simulated trial of full_steps").Number(0, 1e6, 0.05),
      Field("simulation", "noise", "seed noise of the simulated AP").Number(0, 1, 0.01),
      Field("simulation", "low_rung_bias", "how much the lowest rung rewards fast starters").Number(0, 1, 0.5),
      Field("simulation", "low_rung_noise", "extra noise sd at low budgets").Number(0, 1, 0),
      Field("simulation", "full_steps", "the budget whose AP is final (0: the top rung)").Integer(0, kMaxSteps, 0),
      Field("simulation", "objective", "the simulated landscape")
          .Word(KindNames<v1::SimulatedObjective>, KindName(v1::SIMULATED_OBJECTIVE_TOY)),

      Field("search", "promotion", "how a rung's promotion quota is ranked: by the rung's AP, or by the top-rung AP "
                                   "the predictor across rungs expects")
          .Word(KindNames<v1::Promotion>, KindName(v1::PROMOTION_RUNG_AP)),
      Field("search", "guided_candidates", "candidates drawn per proposal, the one the predictor ranks best "
                                           "leased (0 or 1: off)")
          .Integer(0, 1000, 8),

      Field("final", "top_k", "final validation: the best trials of the highest rung trained again (0: none)")
          .Integer(0, 1000, 0),
      Field("final", "seeds", "final validation: fresh-seed runs per finalist and per control").Integer(2, 100, 3),
      Field("final", "steps", "final validation: each run's steps (0: the highest rung's)").Integer(0, kMaxSteps, 0),
  };
  return *kFields;
}

// The sections in the order they are read, each with the checks across its fields, run when the
// file has the section (before its unknown keys are reported).
struct Section {
  absl::string_view name;
  Check check = nullptr;
};

absl::Status CheckAlgorithm(v1::ExperimentConfig& c, const ObjectReader& r) {
  const v1::AlgorithmConfig& a = c.algorithm();
  if (a.tournament() > a.population()) {
    return r.Bad("tournament",
                 absl::StrFormat("must not exceed population (%d), got %d", a.population(), a.tournament()));
  }
  return absl::OkStatus();
}

absl::Status CheckObjective(v1::ExperimentConfig& c, const ObjectReader& r) {
  const v1::ObjectiveConfig& o = c.objective();
  if (ObjectiveOf(o) == v1::OBJECTIVE_AP_MACS && !(o.target_macs() > 0)) {
    return r.Bad("target_macs", "required (positive) when kind is \"ap_macs\"");
  }
  return absl::OkStatus();
}

absl::Status CheckLease(v1::ExperimentConfig& c, const ObjectReader& r) {
  const v1::LeaseConfig& l = c.lease();
  if (l.heartbeat_seconds() * 2 > l.lease_seconds()) {
    return r.Bad("heartbeat_seconds", absl::StrFormat("must be at most half of lease.lease_seconds (%g), got %g",
                                                      l.lease_seconds(), l.heartbeat_seconds()));
  }
  return absl::OkStatus();
}

constexpr Section kSections[] = {
    {"search_space"},
    {"algorithm", CheckAlgorithm},
    {"budget"},
    {"proxy"},
    {"rungs"},
    {"objective", CheckObjective},
    {"lease", CheckLease},
    {kSimulation},
    {"search"},
    {"final"},
};

// A field of the table bound to its place in the proto.
struct Bound {
  const Field* field;
  const pb::FieldDescriptor* section;  // nullptr at the top level.
  const pb::FieldDescriptor* descriptor;
};

// Whether `type` can hold `d`'s values.
bool Fits(Type type, const pb::FieldDescriptor& d) {
  using Cpp = pb::FieldDescriptor::CppType;
  if ((type == Type::kIntegerList || type == Type::kTextList) != d.is_repeated()) return false;
  switch (type) {
    case Type::kNumber:
      return d.cpp_type() == Cpp::CPPTYPE_DOUBLE;
    case Type::kInteger:
    case Type::kIntegerList:
      return d.cpp_type() == Cpp::CPPTYPE_INT32 || d.cpp_type() == Cpp::CPPTYPE_INT64 ||
             (type == Type::kInteger && d.cpp_type() == Cpp::CPPTYPE_UINT64);
    case Type::kText:
    case Type::kWord:
    case Type::kTextList:
      return d.cpp_type() == Cpp::CPPTYPE_STRING;
    case Type::kFlag:
      return d.cpp_type() == Cpp::CPPTYPE_BOOL;
  }
  return false;
}

[[noreturn]] void TableBroken(const std::string& why) {
  std::fprintf(stderr, "vertebra: the experiment file's table is out of step with the proto: %s\n", why.c_str());
  std::abort();
}

// The table bound to v1::ExperimentConfig, checked once: every row names a field of a fitting
// type, and every field of the proto but `simulated` (the simulation section's presence) has a
// row, so that a field added to the proto cannot be left out of the file.
const std::vector<Bound>& BoundFields() {
  static const std::vector<Bound>* const kBound = [] {
    auto* bound = new std::vector<Bound>;
    const pb::Descriptor* top = v1::ExperimentConfig::descriptor();
    std::set<const pb::FieldDescriptor*> covered;
    for (const Field& f : Fields()) {
      const pb::FieldDescriptor* section = nullptr;
      const pb::Descriptor* message = top;
      if (!f.section.empty()) {
        section = top->FindFieldByName(std::string(f.section));
        if (section == nullptr || section->message_type() == nullptr) TableBroken(std::string(f.section));
        message = section->message_type();
        covered.insert(section);
      }
      const pb::FieldDescriptor* d = message->FindFieldByName(std::string(f.key));
      if (d == nullptr || !Fits(f.type, *d)) TableBroken(absl::StrCat(f.section, ".", f.key));
      covered.insert(d);
      bound->push_back({&f, section, d});
    }
    covered.insert(top->FindFieldByName("simulated"));
    for (int i = 0; i < top->field_count(); ++i) {
      const pb::FieldDescriptor* d = top->field(i);
      if (covered.count(d) == 0) TableBroken(absl::StrCat(d->name(), " has no row"));
      for (int k = 0; d->message_type() != nullptr && k < d->message_type()->field_count(); ++k) {
        if (covered.count(d->message_type()->field(k)) == 0) {
          TableBroken(absl::StrCat(d->name(), ".", d->message_type()->field(k)->name(), " has no row"));
        }
      }
    }
    return bound;
  }();
  return *kBound;
}

pb::Message* Mutable(v1::ExperimentConfig& c, const Bound& b) {
  return b.section == nullptr ? &c : c.GetReflection()->MutableMessage(&c, b.section);
}

const pb::Message& Get(const v1::ExperimentConfig& c, const Bound& b) {
  return b.section == nullptr ? c : c.GetReflection()->GetMessage(c, b.section);
}

void SetInteger(pb::Message* m, const pb::FieldDescriptor* d, int64_t value) {
  const pb::Reflection* r = m->GetReflection();
  switch (d->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(m, d, static_cast<int32_t>(value));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      r->SetUInt64(m, d, static_cast<uint64_t>(value));
      break;
    default:
      r->SetInt64(m, d, value);
      break;
  }
}

// The row's default into `c`.
void SetDefault(v1::ExperimentConfig& c, const Bound& b) {
  pb::Message* m = Mutable(c, b);
  const pb::Reflection* r = m->GetReflection();
  const Field& f = *b.field;
  switch (f.type) {
    case Type::kNumber:
      r->SetDouble(m, b.descriptor, f.number);
      break;
    case Type::kInteger:
      SetInteger(m, b.descriptor, f.integer);
      break;
    case Type::kText:
    case Type::kWord:
      r->SetString(m, b.descriptor, std::string(f.text));
      break;
    case Type::kFlag:
      r->SetBool(m, b.descriptor, f.flag);
      break;
    case Type::kIntegerList:
    case Type::kTextList:
      r->ClearField(m, b.descriptor);
      break;
  }
}

// Reads the row's value from `reader` into `c` when the file gives it, checking its type and
// range; the default stays otherwise.
absl::Status ReadField(ObjectReader& reader, const Bound& b, v1::ExperimentConfig& c) {
  const Field& f = *b.field;
  const json* v = reader.Find(f.key);
  if (v == nullptr) return absl::OkStatus();
  pb::Message* m = Mutable(c, b);
  const pb::Reflection* r = m->GetReflection();
  switch (f.type) {
    case Type::kNumber: {
      if (!v->is_number()) return reader.Bad(f.key, "must be a number, got " + v->dump());
      const double d = v->get<double>();
      if (!(d >= f.lo && d <= f.hi)) {
        return reader.Bad(f.key, absl::StrFormat("must be in [%g, %g], got %g", f.lo, f.hi, d));
      }
      r->SetDouble(m, b.descriptor, d);
      return absl::OkStatus();
    }
    case Type::kInteger: {
      if (b.descriptor->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64) {
        if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
          return reader.Bad(f.key, "must be a non-negative integer, got " + v->dump());
        }
        r->SetUInt64(m, b.descriptor, v->get<uint64_t>());
        return absl::OkStatus();
      }
      if (!v->is_number_integer()) return reader.Bad(f.key, "must be an integer, got " + v->dump());
      const int64_t i = v->get<int64_t>();
      if (i < f.min || i > f.max) {
        return reader.Bad(f.key, absl::StrFormat("must be in [%d, %d], got %d", f.min, f.max, i));
      }
      SetInteger(m, b.descriptor, i);
      return absl::OkStatus();
    }
    case Type::kText:
    case Type::kWord: {
      if (!v->is_string()) return reader.Bad(f.key, "must be a string, got " + v->dump());
      const std::string s = v->get<std::string>();
      if (f.type == Type::kWord) {
        const std::vector<std::string> allowed = f.words();
        if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
          return reader.Bad(f.key, absl::StrFormat("must be one of %s, got \"%s\"", absl::StrJoin(allowed, ", "), s));
        }
      }
      r->SetString(m, b.descriptor, s);
      return absl::OkStatus();
    }
    case Type::kFlag: {
      if (!v->is_boolean()) return reader.Bad(f.key, "must be true or false, got " + v->dump());
      r->SetBool(m, b.descriptor, v->get<bool>());
      return absl::OkStatus();
    }
    case Type::kIntegerList: {
      if (!v->is_array()) return reader.Bad(f.key, "must be a list of integers, got " + v->dump());
      if (v->size() < f.min_items) {
        return reader.Bad(f.key, absl::StrFormat("must list at least %d integer%s, got %s", f.min_items,
                                                 f.min_items == 1 ? "" : "s", v->dump()));
      }
      r->ClearField(m, b.descriptor);
      for (size_t i = 0; i < v->size(); ++i) {
        const json& e = (*v)[i];
        const std::string item = absl::StrFormat("%s[%d]", f.key, i);
        if (!e.is_number_integer()) return reader.Bad(item, "must be an integer, got " + e.dump());
        const int64_t x = e.get<int64_t>();
        if (x < f.min || x > f.max)
          return reader.Bad(item, absl::StrFormat("must be in [%d, %d], got %d", f.min, f.max, x));
        if (b.descriptor->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32) {
          r->AddInt32(m, b.descriptor, static_cast<int32_t>(x));
        } else {
          r->AddInt64(m, b.descriptor, x);
        }
      }
      return absl::OkStatus();
    }
    case Type::kTextList: {
      if (!v->is_array()) return reader.Bad(f.key, "must be a list of strings, got " + v->dump());
      r->ClearField(m, b.descriptor);
      for (size_t i = 0; i < v->size(); ++i) {
        const json& e = (*v)[i];
        const std::string item = absl::StrFormat("%s[%d]", f.key, i);
        if (!e.is_string() || e.get<std::string>().empty()) {
          return reader.Bad(item, "must be a non-empty string, got " + e.dump());
        }
        r->AddString(m, b.descriptor, e.get<std::string>());
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Reads the rows of `section` ("" for the top-level fields) from `reader`.
absl::Status ReadFields(ObjectReader& reader, absl::string_view section, v1::ExperimentConfig& c) {
  for (const Bound& b : BoundFields()) {
    if (b.field->section != section) continue;
    RETURN_IF_ERROR(ReadField(reader, b, c));
    if (b.field->check != nullptr) RETURN_IF_ERROR(b.field->check(c, reader));
  }
  return absl::OkStatus();
}

// Every default of the table; the simulation section's only when `simulation` (the file has it).
void SetDefaults(v1::ExperimentConfig& c, bool simulation) {
  for (const Bound& b : BoundFields()) {
    if ((b.field->section == kSimulation) == simulation) SetDefault(c, b);
  }
}

// Every control and every seed architecture must be an architecture the proxy task can build
// within the hard limits: the same checks a proposal gets (controller/proposer.h), but refused at
// start naming the entry. `field` is the list's key, `entries` its entries, `load` its loader.
absl::Status CheckArchitectureList(const v1::ExperimentConfig& c, absl::string_view field,
                                   const pb::RepeatedPtrField<std::string>& entries,
                                   absl::StatusOr<ControlArchitecture> (*load)(const v1::ExperimentConfig&, int)) {
  const v1::ObjectiveConfig& o = c.objective();
  for (int i = 0; i < entries.size(); ++i) {
    const std::string item = absl::StrFormat("%s[%d]", field, i);
    for (int k = 0; k < i; ++k) {
      if (entries[k] == entries[i]) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: \"%s\" repeats %s[%d]", item, entries[i], field, k));
      }
    }
    ASSIGN_OR_RETURN(const ControlArchitecture arch, load(c, i));
    if (o.max_macs() > 0 && arch.macs > o.max_macs()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: \"%s\" has %d multiply-adds at the proxy task, over "
                                                        "objective.max_macs %d",
                                                        item, entries[i], arch.macs, o.max_macs()));
    }
    if (o.max_params() > 0 && arch.params > o.max_params()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: \"%s\" has %d parameters at the proxy task, over "
                                                        "objective.max_params %d",
                                                        item, entries[i], arch.params, o.max_params()));
    }
  }
  return absl::OkStatus();
}

// A seed architecture must also be one of the search space's: the policies start from its
// decisions.
absl::Status CheckSeedArchitectures(const v1::ExperimentConfig& c, const search_spaces::SearchSpace& space) {
  RETURN_IF_ERROR(CheckArchitectureList(c, "seed_architectures", c.seed_architectures(), LoadSeedArchitecture));
  for (int i = 0; i < c.seed_architectures_size(); ++i) {
    ASSIGN_OR_RETURN(const ControlArchitecture arch, LoadSeedArchitecture(c, i));
    if (absl::StatusOr<std::vector<int>> d = space.Encode(arch.spec); !d.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("seed_architectures[%d]: \"%s\" is not in the search space: %s",
                                                        i, c.seed_architectures(i), d.status().message()));
    }
  }
  if (c.algorithm().clone_steps() > 0 && c.seed_architectures_size() == 0) {
    return absl::InvalidArgumentError("algorithm.clone_steps: behaviour cloning needs seed_architectures");
  }
  return absl::OkStatus();
}

// The final section: refused on a simulated search, whose results do not depend on a training
// seed; its steps default to the highest rung's.
absl::Status CompleteFinal(v1::ExperimentConfig& c) {
  if (c.final().top_k() == 0) return absl::OkStatus();
  if (c.simulated()) {
    return absl::InvalidArgumentError(
        "final: a simulated search has no final validation (a simulated result does not depend on the training "
        "seed); remove the final section or the simulation section");
  }
  if (c.final().steps() == 0) c.mutable_final()->set_steps(c.rungs().steps(c.rungs().steps_size() - 1));
  return absl::OkStatus();
}

// The defaults that depend on other fields, and the checks across sections.
absl::Status Complete(v1::ExperimentConfig& c) {
  // Not given: at least one result per trial running at once, so that an update's batch is not
  // mostly results of proposals made several updates ago.
  if (c.algorithm().update_every() == 0) {
    c.mutable_algorithm()->set_update_every(std::max(kDefaultUpdateEvery, c.budget().parallel()));
  }
  if (c.rungs().steps_size() == 0) c.mutable_rungs()->add_steps(kDefaultSteps);
  if (c.simulated()) {
    const int64_t top = c.rungs().steps(c.rungs().steps_size() - 1);
    if (c.simulation().full_steps() == 0) c.mutable_simulation()->set_full_steps(top);
    if (c.simulation().full_steps() < top) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "simulation.full_steps: must be at least the highest rung (%d), got %d", top, c.simulation().full_steps()));
    }
  }
  // The search space must be one the decision space can build; its defaults are written out, so
  // that the stored configuration says exactly what was searched.
  search_spaces::SearchSpaceOptions space;
  if (c.search_space().intermediate_pool_size() == 0) {
    for (int level : space.intermediate_pool) c.mutable_search_space()->add_intermediate_pool(level);
  }
  if (c.search_space().parent_window() == 0) {
    c.mutable_search_space()->set_parent_window(space.intermediate_parent_window);
  }
  space.intermediate_pool.assign(c.search_space().intermediate_pool().begin(),
                                 c.search_space().intermediate_pool().end());
  space.intermediate_parent_window = c.search_space().parent_window();
  absl::StatusOr<search_spaces::SearchSpace> built = search_spaces::SearchSpace::Create(space);
  if (!built.ok()) return absl::InvalidArgumentError(absl::StrCat("search_space: ", built.status().message()));
  RETURN_IF_ERROR(CheckArchitectureList(c, "controls", c.controls(), LoadControl));
  RETURN_IF_ERROR(CheckSeedArchitectures(c, *built));
  return CompleteFinal(c);
}

absl::Status Parse(const json& root, v1::ExperimentConfig& c) {
  if (!root.is_object()) return absl::InvalidArgumentError("the configuration must be a JSON object");
  ObjectReader top(root, "");
  RETURN_IF_ERROR(ReadFields(top, "", c));
  for (const Section& section : kSections) {
    const json* v = top.Find(section.name);
    if (v != nullptr && !v->is_object()) return top.Bad(section.name, "must be an object, got " + v->dump());
    if (v != nullptr) {
      if (section.name == kSimulation) {
        SetDefaults(c, /*simulation=*/true);
        c.set_simulated(true);
      }
      ObjectReader reader(*v, top.Field(section.name));
      RETURN_IF_ERROR(ReadFields(reader, section.name, c));
      if (section.check != nullptr) RETURN_IF_ERROR(section.check(c, reader));
      RETURN_IF_ERROR(reader.Finish());
    }
    if (section.name == "proxy" && c.proxy().classes() == 0) {
      // Not given: the data's (the count experiments had before the field).
      ASSIGN_OR_RETURN(const int32_t classes, search_spaces::DefaultProxyClasses(c.proxy().data()));
      c.mutable_proxy()->set_classes(classes);
    }
  }
  RETURN_IF_ERROR(top.Finish());
  return Complete(c);
}

// The value of a row as JSON, of the proto field's type.
json ValueJson(const v1::ExperimentConfig& c, const Bound& b) {
  const pb::Message& m = Get(c, b);
  const pb::Reflection* r = m.GetReflection();
  const pb::FieldDescriptor* d = b.descriptor;
  if (d->is_repeated()) {
    json list = json::array();
    for (int i = 0; i < r->FieldSize(m, d); ++i) {
      if (d->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
        list.push_back(r->GetRepeatedString(m, d, i));
      } else if (d->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32) {
        list.push_back(r->GetRepeatedInt32(m, d, i));
      } else {
        list.push_back(r->GetRepeatedInt64(m, d, i));
      }
    }
    return list;
  }
  switch (d->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return r->GetDouble(m, d);
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(m, d);
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return r->GetInt64(m, d);
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return r->GetUInt64(m, d);
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, d);
    default:
      return r->GetString(m, d);
  }
}

}  // namespace

absl::StatusOr<v1::ExperimentConfig> ParseExperimentConfig(const std::string& text, const std::string& source) {
  absl::StatusOr<json> parsed = ParseJsonStrict(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not valid JSON: %s", source, parsed.status().message()));
  }
  const json root = *std::move(parsed);
  v1::ExperimentConfig config;
  SetDefaults(config, /*simulation=*/false);
  if (absl::Status s = Parse(root, config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", source, s.message()));
  }
  return config;
}

absl::StatusOr<v1::ExperimentConfig> ReadExperimentConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok())
    return absl::NotFoundError(
        absl::StrFormat("%s: cannot read the configuration (%s)", path, text.status().message()));
  return ParseExperimentConfig(*text, path);
}

std::string ExperimentConfigToJson(const v1::ExperimentConfig& c) {
  json j = json::object();
  for (const Bound& b : BoundFields()) {
    if (b.field->section == kSimulation && !c.simulated()) continue;
    json& place = b.field->section.empty() ? j : j[std::string(b.field->section)];
    place[std::string(b.field->key)] = ValueJson(c, b);
  }
  return j.dump(2) + "\n";
}

namespace {

// Entry `index` of the list `field` (`entries`), loaded and priced like a control.
absl::StatusOr<ControlArchitecture> LoadListed(const v1::ExperimentConfig& config, absl::string_view field,
                                               const pb::RepeatedPtrField<std::string>& entries, int index) {
  const std::string item = absl::StrFormat("%s[%d]", field, index);
  if (index < 0 || index >= entries.size()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: no such entry", item));
  }
  const std::string& name = entries[index];
  absl::StatusOr<v1::ArchSpec> spec = search_spaces::LoadArchSpec(name);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: \"%s\" is neither a reference architecture (%s) nor a valid spec file: %s", item, name,
        absl::StrJoin(search_spaces::ReferenceArchNames(), ", "), spec.status().message()));
  }
  absl::StatusOr<search_spaces::ResolvedProxy> proxy = search_spaces::ResolveProxy(*spec, config.proxy());
  if (!proxy.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: \"%s\": %s", item, name, proxy.status().message()));
  }
  ControlArchitecture out;
  out.spec = *std::move(spec);
  out.spec.set_name(name);
  out.params = proxy->cost.total_params;
  out.macs = proxy->cost.total_macs;
  return out;
}

}  // namespace

absl::StatusOr<ControlArchitecture> LoadControl(const v1::ExperimentConfig& config, int index) {
  return LoadListed(config, "controls", config.controls(), index);
}

absl::StatusOr<ControlArchitecture> LoadSeedArchitecture(const v1::ExperimentConfig& config, int index) {
  return LoadListed(config, "seed_architectures", config.seed_architectures(), index);
}

std::string ExperimentConfigReference() {
  std::string out;
  for (const Field& f : Fields()) {
    std::string range;
    switch (f.type) {
      case Type::kNumber:
        range = absl::StrFormat("number in [%g, %g], default %g", f.lo, f.hi, f.number);
        break;
      case Type::kInteger:
        range = absl::StrFormat("integer in [%d, %d], default %d", f.min, f.max, f.integer);
        break;
      case Type::kText:
        range = absl::StrFormat("string, default \"%s\"", f.text);
        break;
      case Type::kWord:
        range = absl::StrFormat("one of %s, default \"%s\"", absl::StrJoin(f.words(), ", "), f.text);
        break;
      case Type::kFlag:
        range = absl::StrFormat("true or false, default %s", f.flag ? "true" : "false");
        break;
      case Type::kIntegerList:
        range = absl::StrFormat("list of at least %d integers in [%d, %d]", f.min_items, f.min, f.max);
        break;
      case Type::kTextList:
        range = "list of strings, default []";
        break;
    }
    absl::StrAppendFormat(&out, "%s%s%s: %s; %s\n", f.section, f.section.empty() ? "" : ".", f.key, range, f.doc);
  }
  return out;
}

}  // namespace vertebra::controller
