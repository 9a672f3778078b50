#include "controller/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "search_spaces/decisions.h"
#include "search_spaces/family.h"
#include "search_spaces/proxy.h"

namespace vertebra::controller {
namespace {

using json = nlohmann::json;

// Reads one JSON object field by field, remembering which keys it used, so that whatever is left
// is an unknown key (a typo must not silently fall back to a default).
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string Field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // The value of `key`, or nullptr when it is absent (the default stays). A null is not absent:
  // it fails the caller's type check, as a typo'd value would.
  const json* Find(const std::string& key) {
    used_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  absl::Status Number(const std::string& key, double* out, double min, double max) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number()) return Bad(key, "must be a number, got " + v->dump());
    const double d = v->get<double>();
    if (!(d >= min && d <= max)) return Bad(key, absl::StrFormat("must be in [%g, %g], got %g", min, max, d));
    *out = d;
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(const std::string& key, Int* out, int64_t min, int64_t max) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer()) return Bad(key, "must be an integer, got " + v->dump());
    const int64_t i = v->get<int64_t>();
    if (i < min || i > max) return Bad(key, absl::StrFormat("must be in [%d, %d], got %d", min, max, i));
    *out = static_cast<Int>(i);
    return absl::OkStatus();
  }

  absl::Status String(const std::string& key, std::string* out, const std::vector<std::string>& allowed = {}) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) return Bad(key, "must be a string, got " + v->dump());
    const std::string s = v->get<std::string>();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      return Bad(key, absl::StrFormat("must be one of %s, got \"%s\"", absl::StrJoin(allowed, ", "), s));
    }
    *out = s;
    return absl::OkStatus();
  }

  absl::Status Bool(const std::string& key, bool* out) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) return Bad(key, "must be true or false, got " + v->dump());
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  // A nested object read by `read`; absent leaves the defaults.
  absl::Status Object(const std::string& key, const std::function<absl::Status(ObjectReader&)>& read) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object()) return Bad(key, "must be an object, got " + v->dump());
    ObjectReader nested(*v, Field(key));
    RETURN_IF_ERROR(read(nested));
    return nested.Finish();
  }

  // A list of at least `min_items` integers in [min, max].
  template <typename Int>
  absl::Status IntegerList(const std::string& key, std::vector<Int>* out, int64_t min, int64_t max,
                           size_t min_items = 0) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array()) return Bad(key, "must be a list of integers, got " + v->dump());
    if (v->size() < min_items) {
      return Bad(key, absl::StrFormat("must list at least %d integer%s, got %s", min_items, min_items == 1 ? "" : "s",
                                      v->dump()));
    }
    out->clear();
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      const std::string item = absl::StrFormat("%s[%d]", key, i);
      if (!e.is_number_integer()) return Bad(item, "must be an integer, got " + e.dump());
      const int64_t x = e.get<int64_t>();
      if (x < min || x > max) return Bad(item, absl::StrFormat("must be in [%d, %d], got %d", min, max, x));
      out->push_back(static_cast<Int>(x));
    }
    return absl::OkStatus();
  }

  absl::Status Finish() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (used_.count(it.key()) == 0) return absl::InvalidArgumentError(Field(it.key()) + ": unknown key");
    }
    return absl::OkStatus();
  }

  absl::Status Bad(const std::string& key, const std::string& why) const {
    return absl::InvalidArgumentError(Field(key) + ": " + why);
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string> used_;
};

constexpr double kHuge = std::numeric_limits<double>::max();
// algorithm.update_every when the file leaves it out and budget.parallel is smaller.
constexpr int32_t kDefaultUpdateEvery = 8;
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
// Object classes of a detection head: far beyond any dataset (LVIS has 1,203).
constexpr int64_t kMaxClasses = 100000;

void SetDefaults(v1::ExperimentConfig& c) {
  c.set_seed(1);
  v1::AlgorithmConfig* a = c.mutable_algorithm();
  // 3e-3: the top of the range ENAS and Zoph & Le used (3.5e-4, 6e-4) scaled for searches of
  // hundreds of trials; no rate from 3e-4 to 3e-2 was worse on the simulated objective
  // (bench/results/rl-learning-rate.csv, README "On the simulated objective").
  a->set_kind("reinforce");
  a->set_learning_rate(0.003);
  a->set_hidden(64);
  a->set_entropy_weight(0.01);
  a->set_baseline_decay(0.9);
  a->set_ppo_clip(0.2);
  a->set_ppo_epochs(4);
  a->set_update_every(0);  // Filled in after parsing: max(kDefaultUpdateEvery, budget.parallel).
  // ENAS's controller: temperature 5 and tanh constant 2.5 keep it exploring.
  a->set_temperature(5);
  a->set_tanh_constant(2.5);
  a->set_failure_penalty(0);
  a->set_population(32);
  a->set_tournament(8);
  a->set_queue(4);
  v1::BudgetConfig* b = c.mutable_budget();
  b->set_trials(100);
  b->set_parallel(4);
  v1::ProxyTask* p = c.mutable_proxy();
  p->set_data("synthetic");
  p->set_size(128);
  p->set_scaling("proxy");
  p->set_batch(16);
  p->set_learning_rate(0.002);
  p->set_maxup(1);
  p->set_threads(1);
  // The annealed reading (bench/fidelity_study.py): a rung read at the end of a short cool-down
  // ranks like a long run; one read mid-schedule at a high learning rate does not.
  p->set_schedule("wsd");
  p->set_cooldown_fraction(0.15);
  p->set_ema_decay(0.99);
  c.mutable_rungs()->set_eta(3);
  v1::ObjectiveConfig* o = c.mutable_objective();
  o->set_kind("ap");
  o->set_macs_weight(-0.07);
  v1::LeaseConfig* l = c.mutable_lease();
  l->set_lease_seconds(900);
  l->set_heartbeat_seconds(15);
  l->set_max_attempts(3);
}

absl::Status Parse(const json& root, v1::ExperimentConfig& c) {
  if (!root.is_object()) return absl::InvalidArgumentError("the configuration must be a JSON object");
  ObjectReader r(root, "");
  std::string name;
  RETURN_IF_ERROR(r.String("name", &name));
  if (name.empty()) return r.Bad("name", "required, a non-empty string");
  // The name becomes folder and file names (`launch` writes runs/NAME/): nothing that could leave
  // the folder or need quoting.
  const bool safe = name.size() <= 100 && std::isalnum(static_cast<unsigned char>(name[0])) &&
                    std::all_of(name.begin(), name.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
                    });
  if (!safe) {
    return r.Bad("name", absl::StrFormat("must be up to 100 letters, digits, '.', '_' or '-', starting with a letter "
                                         "or digit (it names folders), got \"%s\"",
                                         name.substr(0, 120)));
  }
  c.set_name(name);
  uint64_t seed = c.seed();
  {
    const json* v = r.Find("seed");
    if (v != nullptr) {
      if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
        return r.Bad("seed", "must be a non-negative integer, got " + v->dump());
      }
      seed = v->get<uint64_t>();
    }
  }
  c.set_seed(seed);
  bool repeats = false;
  RETURN_IF_ERROR(r.Bool("allow_repeats", &repeats));
  c.set_allow_repeats(repeats);

  RETURN_IF_ERROR(r.Object("search_space", [&](ObjectReader& s) {
    std::vector<int32_t> pool;
    RETURN_IF_ERROR(s.IntegerList("intermediate_pool", &pool, 2, 7));
    for (int32_t level : pool) c.mutable_search_space()->add_intermediate_pool(level);
    int32_t window = 0;
    RETURN_IF_ERROR(s.Integer("parent_window", &window, 2, 64));
    c.mutable_search_space()->set_parent_window(window);
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("algorithm", [&](ObjectReader& s) {
    v1::AlgorithmConfig* a = c.mutable_algorithm();
    std::string kind = a->kind();
    RETURN_IF_ERROR(s.String("kind", &kind, {"ppo", "reinforce", "evolution", "random"}));
    a->set_kind(kind);
    double d = a->learning_rate();
    RETURN_IF_ERROR(s.Number("learning_rate", &d, 1e-8, 10));
    a->set_learning_rate(d);
    int32_t i = a->hidden();
    RETURN_IF_ERROR(s.Integer("hidden", &i, 4, 4096));
    a->set_hidden(i);
    d = a->entropy_weight();
    RETURN_IF_ERROR(s.Number("entropy_weight", &d, 0, 10));
    a->set_entropy_weight(d);
    d = a->baseline_decay();
    RETURN_IF_ERROR(s.Number("baseline_decay", &d, 0, 0.9999));
    a->set_baseline_decay(d);
    d = a->ppo_clip();
    RETURN_IF_ERROR(s.Number("ppo_clip", &d, 0.01, 10));
    a->set_ppo_clip(d);
    i = a->ppo_epochs();
    RETURN_IF_ERROR(s.Integer("ppo_epochs", &i, 1, 100));
    a->set_ppo_epochs(i);
    i = 0;
    RETURN_IF_ERROR(s.Integer("update_every", &i, 1, 100000));
    a->set_update_every(i);  // 0 until the budget is read: then the default.
    d = a->temperature();
    RETURN_IF_ERROR(s.Number("temperature", &d, 0, 1000));
    a->set_temperature(d);
    d = a->tanh_constant();
    RETURN_IF_ERROR(s.Number("tanh_constant", &d, 0, 1000));
    a->set_tanh_constant(d);
    d = a->failure_penalty();
    RETURN_IF_ERROR(s.Number("failure_penalty", &d, -1e6, 1e6));
    a->set_failure_penalty(d);
    i = a->population();
    RETURN_IF_ERROR(s.Integer("population", &i, 2, 1000000));
    a->set_population(i);
    i = a->tournament();
    RETURN_IF_ERROR(s.Integer("tournament", &i, 1, 1000000));
    a->set_tournament(i);
    i = a->queue();
    RETURN_IF_ERROR(s.Integer("queue", &i, 1, 10000));
    a->set_queue(i);
    if (a->tournament() > a->population()) {
      return s.Bad("tournament", absl::StrFormat("must not exceed population (%d), got %d", a->population(),
                                                 a->tournament()));
    }
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("budget", [&](ObjectReader& s) {
    v1::BudgetConfig* b = c.mutable_budget();
    int32_t i = b->trials();
    RETURN_IF_ERROR(s.Integer("trials", &i, 1, kMaxInt));
    b->set_trials(i);
    i = b->parallel();
    RETURN_IF_ERROR(s.Integer("parallel", &i, 1, 100000));
    b->set_parallel(i);
    double d = b->wall_hours();
    RETURN_IF_ERROR(s.Number("wall_hours", &d, 0, 1e6));
    b->set_wall_hours(d);
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("proxy", [&](ObjectReader& s) {
    v1::ProxyTask* p = c.mutable_proxy();
    std::string str = p->data();
    RETURN_IF_ERROR(s.String("data", &str));
    if (str.empty()) return s.Bad("data", "must not be empty");
    p->set_data(str);
    str = p->val();
    RETURN_IF_ERROR(s.String("val", &str));
    p->set_val(str);
    int32_t i = p->held_out();
    RETURN_IF_ERROR(s.Integer("held_out", &i, 0, kMaxInt));
    p->set_held_out(i);
    i = p->size();
    RETURN_IF_ERROR(s.Integer("size", &i, 32, 4096));
    p->set_size(i);
    str = p->scaling();
    RETURN_IF_ERROR(s.String("scaling", &str, search_spaces::ModelScaleNames()));
    p->set_scaling(str);
    i = p->batch();
    RETURN_IF_ERROR(s.Integer("batch", &i, 1, 65536));
    p->set_batch(i);
    double d = p->learning_rate();
    RETURN_IF_ERROR(s.Number("learning_rate", &d, 1e-8, 100));
    p->set_learning_rate(d);
    i = p->maxup();
    RETURN_IF_ERROR(s.Integer("maxup", &i, 1, 64));
    p->set_maxup(i);
    i = p->threads();
    RETURN_IF_ERROR(s.Integer("threads", &i, 1, 1024));
    p->set_threads(i);
    int64_t every = p->eval_every();
    RETURN_IF_ERROR(s.Integer("eval_every", &every, 0, int64_t{1} << 40));
    p->set_eval_every(every);
    d = p->anchor_scale();
    RETURN_IF_ERROR(s.Number("anchor_scale", &d, 0, 64));
    p->set_anchor_scale(d);
    str = p->schedule();
    RETURN_IF_ERROR(s.String("schedule", &str, {"wsd", "ema", "cosine_per_rung", "cosine"}));
    p->set_schedule(str);
    d = p->cooldown_fraction();
    RETURN_IF_ERROR(s.Number("cooldown_fraction", &d, 0.01, 1));
    p->set_cooldown_fraction(d);
    d = p->ema_decay();
    RETURN_IF_ERROR(s.Number("ema_decay", &d, 0.5, 0.9999));
    p->set_ema_decay(d);
    i = p->classes();
    RETURN_IF_ERROR(s.Integer("classes", &i, 1, kMaxClasses));
    p->set_classes(i);
    return absl::OkStatus();
  }));
  if (c.proxy().classes() == 0) {  // Not given: the data's (the count experiments had before the field).
    ASSIGN_OR_RETURN(const int32_t classes, search_spaces::DefaultProxyClasses(c.proxy().data()));
    c.mutable_proxy()->set_classes(classes);
  }

  RETURN_IF_ERROR(r.Object("rungs", [&](ObjectReader& s) {
    std::vector<int64_t> steps;
    RETURN_IF_ERROR(s.IntegerList("steps", &steps, 1, int64_t{1} << 40, /*min_items=*/1));
    for (size_t k = 1; k < steps.size(); ++k) {
      if (steps[k] <= steps[k - 1]) {
        return s.Bad(absl::StrFormat("steps[%d]", k), absl::StrFormat("must be larger than rungs.steps[%d] (%d), got %d",
                                                                      k - 1, steps[k - 1], steps[k]));
      }
    }
    for (int64_t x : steps) c.mutable_rungs()->add_steps(x);
    int32_t eta = c.rungs().eta();
    RETURN_IF_ERROR(s.Integer("eta", &eta, 2, 1000));
    c.mutable_rungs()->set_eta(eta);
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("objective", [&](ObjectReader& s) {
    v1::ObjectiveConfig* o = c.mutable_objective();
    std::string kind = o->kind();
    RETURN_IF_ERROR(s.String("kind", &kind, {"ap", "ap_macs"}));
    o->set_kind(kind);
    double d = o->target_macs();
    RETURN_IF_ERROR(s.Number("target_macs", &d, 0, kHuge));
    o->set_target_macs(d);
    d = o->macs_weight();
    RETURN_IF_ERROR(s.Number("macs_weight", &d, -10, 10));
    o->set_macs_weight(d);
    int64_t i = o->max_macs();
    RETURN_IF_ERROR(s.Integer("max_macs", &i, 0, std::numeric_limits<int64_t>::max()));
    o->set_max_macs(i);
    i = o->max_params();
    RETURN_IF_ERROR(s.Integer("max_params", &i, 0, std::numeric_limits<int64_t>::max()));
    o->set_max_params(i);
    d = o->penalty();
    RETURN_IF_ERROR(s.Number("penalty", &d, -1e6, 1e6));
    o->set_penalty(d);
    if (kind == "ap_macs" && !(o->target_macs() > 0)) {
      return s.Bad("target_macs", "required (positive) when kind is \"ap_macs\"");
    }
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("lease", [&](ObjectReader& s) {
    v1::LeaseConfig* l = c.mutable_lease();
    double d = l->lease_seconds();
    RETURN_IF_ERROR(s.Number("lease_seconds", &d, 0.01, 1e7));
    l->set_lease_seconds(d);
    d = l->heartbeat_seconds();
    RETURN_IF_ERROR(s.Number("heartbeat_seconds", &d, 0.001, 1e7));
    l->set_heartbeat_seconds(d);
    int32_t i = l->max_attempts();
    RETURN_IF_ERROR(s.Integer("max_attempts", &i, 1, 1000));
    l->set_max_attempts(i);
    if (l->heartbeat_seconds() * 2 > l->lease_seconds()) {
      return s.Bad("heartbeat_seconds", absl::StrFormat("must be at most half of lease.lease_seconds (%g), got %g",
                                                        l->lease_seconds(), l->heartbeat_seconds()));
    }
    return absl::OkStatus();
  }));

  RETURN_IF_ERROR(r.Object("simulation", [&](ObjectReader& s) {
    v1::SimulationConfig* m = c.mutable_simulation();
    m->set_seconds(0.05);
    m->set_noise(0.01);
    m->set_low_rung_bias(0.5);
    double d = m->seconds();
    RETURN_IF_ERROR(s.Number("seconds", &d, 0, 1e6));
    m->set_seconds(d);
    d = m->noise();
    RETURN_IF_ERROR(s.Number("noise", &d, 0, 1));
    m->set_noise(d);
    d = m->low_rung_bias();
    RETURN_IF_ERROR(s.Number("low_rung_bias", &d, 0, 1));
    m->set_low_rung_bias(d);
    d = m->low_rung_noise();
    RETURN_IF_ERROR(s.Number("low_rung_noise", &d, 0, 1));
    m->set_low_rung_noise(d);
    int64_t full = m->full_steps();
    RETURN_IF_ERROR(s.Integer("full_steps", &full, 0, int64_t{1} << 40));
    m->set_full_steps(full);
    std::string objective = "toy";
    RETURN_IF_ERROR(s.String("objective", &objective, {"toy", "surrogate"}));
    m->set_objective(objective);
    c.set_simulated(true);
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(r.Finish());

  // Not given: at least one result per trial running at once, so that an update's batch is not
  // mostly results of proposals made several updates ago.
  if (c.algorithm().update_every() == 0) {
    c.mutable_algorithm()->set_update_every(std::max(kDefaultUpdateEvery, c.budget().parallel()));
  }
  if (c.rungs().steps_size() == 0) c.mutable_rungs()->add_steps(500);
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
  if (c.search_space().intermediate_pool_size() > 0) {
    space.intermediate_pool.assign(c.search_space().intermediate_pool().begin(),
                                   c.search_space().intermediate_pool().end());
  }
  if (c.search_space().parent_window() > 0) space.intermediate_parent_window = c.search_space().parent_window();
  absl::StatusOr<search_spaces::SearchSpace> built = search_spaces::SearchSpace::Create(space);
  if (!built.ok()) return absl::InvalidArgumentError(absl::StrCat("search_space: ", built.status().message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ExperimentConfig> ParseExperimentConfig(const std::string& text, const std::string& source) {
  absl::StatusOr<json> parsed = ParseJsonStrict(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not valid JSON: %s", source, parsed.status().message()));
  }
  const json root = *std::move(parsed);
  v1::ExperimentConfig config;
  SetDefaults(config);
  if (absl::Status s = Parse(root, config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", source, s.message()));
  }
  return config;
}

absl::StatusOr<v1::ExperimentConfig> ReadExperimentConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrFormat("%s: cannot read the configuration (%s)", path,
                                                             text.status().message()));
  return ParseExperimentConfig(*text, path);
}

std::string ExperimentConfigToJson(const v1::ExperimentConfig& c) {
  json j;
  j["name"] = c.name();
  j["seed"] = c.seed();
  j["allow_repeats"] = c.allow_repeats();
  j["search_space"] = {{"intermediate_pool", std::vector<int>(c.search_space().intermediate_pool().begin(),
                                                              c.search_space().intermediate_pool().end())},
                       {"parent_window", c.search_space().parent_window()}};
  const v1::AlgorithmConfig& a = c.algorithm();
  j["algorithm"] = {{"kind", a.kind()},
                    {"learning_rate", a.learning_rate()},
                    {"hidden", a.hidden()},
                    {"entropy_weight", a.entropy_weight()},
                    {"baseline_decay", a.baseline_decay()},
                    {"ppo_clip", a.ppo_clip()},
                    {"ppo_epochs", a.ppo_epochs()},
                    {"update_every", a.update_every()},
                    {"temperature", a.temperature()},
                    {"tanh_constant", a.tanh_constant()},
                    {"failure_penalty", a.failure_penalty()},
                    {"population", a.population()},
                    {"tournament", a.tournament()},
                    {"queue", a.queue()}};
  j["budget"] = {{"trials", c.budget().trials()},
                 {"parallel", c.budget().parallel()},
                 {"wall_hours", c.budget().wall_hours()}};
  const v1::ProxyTask& p = c.proxy();
  j["proxy"] = {{"data", p.data()},       {"val", p.val()},
                {"held_out", p.held_out()}, {"size", p.size()},
                {"scaling", p.scaling()}, {"batch", p.batch()},
                {"learning_rate", p.learning_rate()}, {"maxup", p.maxup()},
                {"threads", p.threads()}, {"eval_every", p.eval_every()},
                {"anchor_scale", p.anchor_scale()}, {"schedule", p.schedule()},
                {"cooldown_fraction", p.cooldown_fraction()}, {"ema_decay", p.ema_decay()},
                {"classes", p.classes()}};
  j["rungs"] = {{"steps", std::vector<int64_t>(c.rungs().steps().begin(), c.rungs().steps().end())},
                {"eta", c.rungs().eta()}};
  const v1::ObjectiveConfig& o = c.objective();
  j["objective"] = {{"kind", o.kind()},         {"target_macs", o.target_macs()}, {"macs_weight", o.macs_weight()},
                    {"max_macs", o.max_macs()}, {"max_params", o.max_params()},   {"penalty", o.penalty()}};
  j["lease"] = {{"lease_seconds", c.lease().lease_seconds()},
                {"heartbeat_seconds", c.lease().heartbeat_seconds()},
                {"max_attempts", c.lease().max_attempts()}};
  if (c.simulated()) {
    j["simulation"] = {{"seconds", c.simulation().seconds()},
                       {"noise", c.simulation().noise()},
                       {"low_rung_bias", c.simulation().low_rung_bias()},
                       {"low_rung_noise", c.simulation().low_rung_noise()},
                       {"full_steps", c.simulation().full_steps()},
                       {"objective", c.simulation().objective()}};
  }
  return j.dump(2) + "\n";
}

}  // namespace vertebra::controller
