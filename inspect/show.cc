#include "inspect/show.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/pareto.h"
#include "common/status_macros.h"
#include "common/text_util.h"
#include "eval/coco_eval.h"
#include "inspect/trials.h"
#include "proto/kinds.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/cost.h"
#include "search_spaces/draw.h"
#include "search_spaces/family.h"
#include "search_spaces/proxy.h"
#include "search_spaces/resolve.h"

namespace vertebra::inspect {
namespace {

using json = nlohmann::json;
namespace ss = ::vertebra::search_spaces;

// The curve table keeps this many rows per rung (first and last included); the sparkline shows
// every point up to kSparkWidth, evenly subsampled beyond.
constexpr size_t kCurveRows = 8;
constexpr size_t kSparkWidth = 48;
// The full-scale reference the cost section also prices a trial at: SpineNet-49's scaling at the
// paper's 640-pixel input (spinenet.md §2.2).
constexpr char kReferenceScale[] = "49";
constexpr int kReferenceSize = 640;

std::string Time(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return absl::StrFormat("%s.%03d UTC", buf, static_cast<int>(std::fmod(unix_seconds, 1.0) * 1000));
}

std::string Seconds(double s) {
  if (s < 120) return absl::StrFormat("%.2f s", s);
  if (s < 7200) return absl::StrFormat("%.1f min", s / 60);
  return absl::StrFormat("%.1f h", s / 3600);
}

json ApJson(const v1::CocoStats& ap) {
  json j = json::object();
  for (int i = 0; i < ap.stats_size() && i < static_cast<int>(eval::kCocoStatNames.size()); ++i) {
    j[std::string(eval::kCocoStatNames[i])] = ap.stats(i);
  }
  return j;
}

// How a rung's result came about, in words.
std::string HowTrained(const v1::RungResult& r) {
  std::string how = !r.continued()        ? "trained from scratch"
                    : r.start_step() > 0 ? absl::StrFormat("continued from the checkpoint at step %d", r.start_step())
                                         : "continued from the checkpoint of the rung below";
  if (r.cooldown_steps() > 0) how += absl::StrFormat(", read after a cool-down of %d steps", r.cooldown_steps());
  if (r.simulated()) how += ", simulated";
  return how;
}

// "▁▂▃▅▇" for a series; NaN and infinite points as "?" (a diverged run).
std::string Sparkline(const std::vector<double>& values) {
  static const char* const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  std::string out;
  const size_t n = values.size();
  const size_t width = std::min(n, kSparkWidth);
  for (size_t i = 0; i < width; ++i) {
    const double v = values[width == n ? i : i * (n - 1) / (width - 1)];
    if (!std::isfinite(v)) {
      out += "?";
      continue;
    }
    const int bar = hi > lo ? static_cast<int>(std::lround(7 * (v - lo) / (hi - lo))) : 0;
    out += kBars[std::clamp(bar, 0, 7)];
  }
  return out;
}

// Indices of at most kCurveRows evenly spread points of [0, n), first and last included.
std::vector<size_t> CurveRows(size_t n) {
  std::vector<size_t> rows;
  if (n <= kCurveRows) {
    for (size_t i = 0; i < n; ++i) rows.push_back(i);
    return rows;
  }
  for (size_t k = 0; k < kCurveRows; ++k) rows.push_back(k * (n - 1) / (kCurveRows - 1));
  return rows;
}

// The trial's points grouped by rung, in arrival order.
std::map<int32_t, std::vector<const v1::MetricPoint*>> ByRung(const std::vector<v1::MetricPoint>& m) {
  std::map<int32_t, std::vector<const v1::MetricPoint*>> out;
  for (const v1::MetricPoint& p : m) out[p.rung()].push_back(&p);
  return out;
}

// The pieces of the spec and cost sections, computed once for both renderings.
struct Priced {
  v1::ArchSpec proxy_spec;        // The trial's blocks at the proxy's scaling.
  ss::ResolvedGraph proxy_graph;  // At the proxy's input size.
  ss::Cost proxy_cost;            // With the proxy's head (its backbone_ fields are shown).
  ss::Cost reference_backbone;    // SpineNet-49's scaling at 640 pixels.
  std::string title;
};

absl::StatusOr<Priced> Price(const TrialDetail& d) {
  Priced p;
  const v1::ProxyTask& proxy = d.experiment.proxy();
  ASSIGN_OR_RETURN(ss::ResolvedProxy priced, ss::ResolveProxy(d.trial.spec(), proxy));
  p.proxy_spec = std::move(priced.spec);
  p.proxy_graph = std::move(priced.graph);
  p.proxy_cost = priced.cost;
  ASSIGN_OR_RETURN(const ss::ModelScale reference, ss::NamedModelScale(kReferenceScale));
  v1::ArchSpec full = d.trial.spec();
  *full.mutable_scaling() = reference.scaling;
  ASSIGN_OR_RETURN(const ss::ResolvedGraph full_graph, ss::Resolve(full, kReferenceSize, kReferenceSize));
  p.reference_backbone = ss::CountCost(full_graph);
  p.title = absl::StrFormat("trial %d at the %s scaling, %d px  (hash %s)", d.trial.id(), proxy.scaling(), proxy.size(),
                            ss::ShortArchHash(d.trial.spec()));
  return p;
}

std::string ScalingWords(const v1::Scaling& s) {
  return absl::StrFormat("filter scale %g, resample alpha %g, %d repeat%s, %d endpoint filters", s.filter_scale(),
                         s.resample_alpha(), s.block_repeats(), s.block_repeats() == 1 ? "" : "s",
                         s.endpoint_filters());
}

void Section(std::string* out, const std::string& name) { absl::StrAppendFormat(out, "\n== %s ==\n", name); }

}  // namespace

ParetoFront ComputeParetoFront(const std::vector<v1::Trial>& trials) {
  ParetoFront out;
  std::vector<const v1::Trial*> at_top;
  for (const v1::Trial& t : trials) {
    const v1::RungResult* r = TopResult(t);
    if (r != nullptr && IsSearchTrial(t)) out.rung = std::max(out.rung, r->rung());
  }
  for (const v1::Trial& t : trials) {
    const v1::RungResult* r = TopResult(t);
    if (r == nullptr || r->rung() != out.rung || !IsSearchTrial(t)) continue;
    ++out.candidates;
    if (t.reused_from() == 0) at_top.push_back(&t);
  }
  // By id, so that the front's ties are in id order.
  std::sort(at_top.begin(), at_top.end(), [](const v1::Trial* a, const v1::Trial* b) { return a->id() < b->id(); });
  std::vector<ApMacs> points;
  points.reserve(at_top.size());
  for (const v1::Trial* t : at_top) points.push_back({TopResult(*t)->ap().stats(0), t->macs()});
  for (size_t i : vertebra::ParetoFront(points)) out.front.push_back(*at_top[i]);
  return out;
}

std::string PredictorQualityLine(const controller::PredictorQuality& q, int top_rung) {
  const std::string rung = absl::StrFormat("predictor rung %d -> %d: %d pair%s", q.rung, top_rung, q.pairs,
                                           q.pairs == 1 ? "" : "s");
  if (std::isnan(q.held_out_r2) && std::isnan(q.held_out_tau)) {
    return absl::StrFormat("%s, too few to measure (the rung's AP, shifted, until there are more)", rung);
  }
  return absl::StrFormat("%s, held-out R^2 %.3f, Kendall tau %.3f (rung AP alone %.3f), lambda %g", rung,
                         q.held_out_r2, q.held_out_tau, q.rung_ap_tau, q.lambda);
}

json PredictorQualityJson(const controller::PredictorQuality& q, int top_rung) {
  auto number = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  return {{"rung", q.rung},
          {"top_rung", top_rung},
          {"pairs", q.pairs},
          {"lambda", q.lambda},
          {"held_out_r2", number(q.held_out_r2)},
          {"held_out_tau", number(q.held_out_tau)},
          {"rung_ap_tau", number(q.rung_ap_tau)}};
}

json TrialSummaryJson(const v1::Trial& t) {
  json results = json::array();
  for (const v1::RungResult& r : t.results()) {
    json ap = json::array();
    for (double x : r.ap().stats()) ap.push_back(x);
    results.push_back({{"rung", r.rung()},
                       {"lease", r.lease()},
                       {"steps", r.steps()},
                       {"ap", ap},
                       {"reward", r.reward()},
                       {"worker", r.worker()},
                       {"simulated", r.simulated()},
                       {"continued", r.continued()},
                       {"start_step", r.start_step()},
                       {"cooldown_steps", r.cooldown_steps()},
                       {"train_seconds", r.train_seconds()},
                       {"images_per_s", r.images_per_s()}});
  }
  return {{"id", t.id()},           {"role", std::string(KindName(RoleOf(t)))},
          {"state", std::string(KindName(t.state()))},
          {"hash", t.hash()},       {"rung", t.rung()},
          {"params", t.params()},   {"macs", t.macs()},
          {"reward", t.reward()},   {"attempts", t.attempts()},
          {"failure", t.failure()}, {"reused_from", t.reused_from()},
          {"parent", t.parent()},   {"results", results},
          {"seed", t.seed()},       {"control", t.control()},
          {"final_of", t.final_of()}, {"final_seed", t.final_seed()},
          {"trained_steps", t.trained_steps()}, {"repeated_steps", t.repeated_steps()}};
}

absl::StatusOr<TrialDetail> LoadTrialDetail(const SearchSource& source, const std::string& which) {
  TrialDetail d;
  ASSIGN_OR_RETURN(d.trial, FindTrial(source, which));
  ASSIGN_OR_RETURN(d.metrics, source.Metrics(d.trial.id()));
  ASSIGN_OR_RETURN(const SearchSummary summary, source.Summary());
  d.experiment = summary.config;
  ASSIGN_OR_RETURN(const std::vector<v1::Trial> all, source.Trials());
  d.verdict = ComputeVerdict(d.experiment, all);
  return d;
}

absl::StatusOr<std::string> ShowText(const TrialDetail& d) {
  ASSIGN_OR_RETURN(const Priced p, Price(d));
  const v1::Trial& t = d.trial;
  const v1::ExperimentConfig& c = d.experiment;
  std::string out;
  absl::StrAppendFormat(&out, "trial %d of experiment '%s' (%s%s): %s at rung %d\n", t.id(), c.name(),
                        c.algorithm().kind(), c.simulated() ? ", simulated" : "", std::string(KindName(t.state())), t.rung());
  absl::StrAppendFormat(&out, "hash %s\n", t.hash());
  if (RoleOf(t) == v1::TRIAL_ROLE_CONTROL) {
    absl::StrAppendFormat(&out, "role: control %s (trained at every rung beside the search, seed %d; never observed by "
                                "the policy)\n",
                          t.control(), t.seed());
  } else if (RoleOf(t) == v1::TRIAL_ROLE_FINAL) {
    absl::StrAppendFormat(&out, "role: final run %d of %s for the final validation: %d steps, fresh seed %d\n",
                          t.final_seed() + 1, t.control().empty() ? absl::StrFormat("trial %d", t.final_of())
                                                                   : absl::StrFormat("control %s (trial %d)", t.control(),
                                                                                     t.final_of()),
                          t.steps(), t.seed());
  }

  Section(&out, "spec");
  out += ss::ArchSpecToJson(t.spec(), 1);
  if (!out.empty() && out.back() != '\n') out += "\n";

  Section(&out, "drawing");
  out += ss::DrawText(p.proxy_graph, p.title);

  Section(&out, "cost");
  absl::StrAppendFormat(&out, "as the search priced it: %s params, %s multiply-adds (%.3f B)\n",
                        WithThousands(t.params()), WithThousands(t.macs()), t.macs() / 1e9);
  absl::StrAppendFormat(&out, "  at the proxy scaling '%s' (%s), %d px, with the proxy's RetinaNet head\n",
                        c.proxy().scaling(), ScalingWords(p.proxy_spec.scaling()), c.proxy().size());
  absl::StrAppendFormat(&out, "  backbone alone: %s params, %s multiply-adds\n",
                        WithThousands(p.proxy_cost.backbone_params), WithThousands(p.proxy_cost.backbone_macs));
  absl::StrAppendFormat(&out,
                        "at SpineNet-%s's scaling, %d px, backbone alone: %.2f M params, %.2f B multiply-adds "
                        "(`vertebra export --scaling` prices other scalings)\n",
                        kReferenceScale, kReferenceSize, p.reference_backbone.backbone_params / 1e6,
                        p.reference_backbone.backbone_macs / 1e9);

  Section(&out, "results");
  if (t.results_size() == 0) {
    out += "no result yet\n";
  } else {
    out += absl::StrFormat("%-5s %-7s", "rung", "steps");
    for (std::string_view name : eval::kCocoStatNames) absl::StrAppendFormat(&out, " %-7s", name);
    out += "\n";
    for (const v1::RungResult& r : t.results()) {
      absl::StrAppendFormat(&out, "%-5d %-7d", r.rung(), r.steps());
      for (double x : r.ap().stats()) absl::StrAppendFormat(&out, " %-7.4f", x);
      out += "\n";
    }
    out += absl::StrFormat("%-5s %-9s %-9s %-9s %-12s %s\n", "rung", "reward", "train s", "images/s", "worker", "how");
    for (const v1::RungResult& r : t.results()) {
      absl::StrAppendFormat(&out, "%-5d %-9.4f %-9.2f %-9.1f %-12s %s; reported %s\n", r.rung(), r.reward(),
                            r.train_seconds(), r.images_per_s(), r.worker(), HowTrained(r), Time(r.reported_at()));
    }
    absl::StrAppendFormat(&out, "reward the policy learned from: %.4f\n", t.reward());
  }

  Section(&out, "training curve");
  if (d.metrics.empty()) {
    out += "no progress reported (heartbeats carry it)\n";
  } else {
    for (const auto& [rung, points] : ByRung(d.metrics)) {
      std::vector<double> loss;
      for (const v1::MetricPoint* m : points) loss.push_back(m->loss());
      absl::StrAppendFormat(&out, "rung %d: %d points, loss %s  %.4g -> %.4g over steps %d..%d\n", rung, points.size(),
                            Sparkline(loss), loss.front(), loss.back(), points.front()->step(), points.back()->step());
      absl::StrAppendFormat(&out, "  %-8s %-10s %s\n", "step", "loss", "AP");
      for (size_t i : CurveRows(points.size())) {
        const v1::MetricPoint& m = *points[i];
        absl::StrAppendFormat(&out, "  %-8d %-10.4g %s\n", m.step(), m.loss(),
                              m.has_ap() ? absl::StrFormat("%.4f", m.ap()) : "-");
      }
    }
  }

  Section(&out, "worker");
  if (!t.worker().empty() && t.state() == v1::LEASED) {
    absl::StrAppendFormat(&out, "leased by %s (lease %d, deadline %s)\n", t.worker(), t.lease(),
                          Time(t.lease_deadline()));
  } else if (!t.worker().empty()) {
    absl::StrAppendFormat(&out, "last leased by %s\n", t.worker());
  } else {
    out += "never leased\n";
  }
  for (const v1::RungResult& r : t.results()) {
    absl::StrAppendFormat(&out, "rung %d measured by %s under lease %d\n", r.rung(), r.worker(), r.lease());
  }

  Section(&out, "timings");
  absl::StrAppendFormat(&out, "created   %s\n", Time(t.created_at()));
  absl::StrAppendFormat(
      &out, "leased    %s%s\n", Time(t.leased_at()),
      t.leased_at() > 0 && t.created_at() > 0
          ? absl::StrFormat("  (last lease, %s after creation)", Seconds(t.leased_at() - t.created_at()))
          : "");
  absl::StrAppendFormat(
      &out, "finished  %s%s\n", Time(t.finished_at()),
      t.finished_at() > 0 && t.leased_at() > 0
          ? absl::StrFormat("  (%s after the last lease, %s after creation)", Seconds(t.finished_at() - t.leased_at()),
                            Seconds(t.finished_at() - t.created_at()))
          : "");
  double trained = 0;
  for (const v1::RungResult& r : t.results()) trained += r.train_seconds();
  absl::StrAppendFormat(&out, "training  %s over %d rung%s\n", Seconds(trained), t.results_size(),
                        t.results_size() == 1 ? "" : "s");

  Section(&out, "lineage");
  if (t.parent() > 0) {
    absl::StrAppendFormat(&out, "parent: trial %d (%s mutated it into this one)\n", t.parent(), c.algorithm().kind());
  } else {
    absl::StrAppendFormat(&out, "parent: none (proposed by %s)\n", c.algorithm().kind());
  }
  if (t.reused_from() > 0) {
    absl::StrAppendFormat(&out, "reused from: trial %d (same hash: its result was taken, nothing was trained)\n",
                          t.reused_from());
  } else {
    out += "reused from: none\n";
  }
  absl::StrAppendFormat(&out, "attempts at rung %d: %d (at most %d)\n", t.rung(), t.attempts(),
                        c.lease().max_attempts());
  absl::StrAppendFormat(&out, "steps trained: %d, %d of them more than once\n", t.trained_steps(), t.repeated_steps());
  absl::StrAppendFormat(&out, "failure: %s\n", t.failure().empty() ? "none" : t.failure());
  if (d.verdict) {
    const std::vector<std::string> lines = VerdictLinesFor(*d.verdict, t.id());
    if (!lines.empty()) {
      Section(&out, "final validation");
      for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

absl::StatusOr<json> ShowJson(const TrialDetail& d) {
  ASSIGN_OR_RETURN(const Priced p, Price(d));
  const v1::Trial& t = d.trial;
  const v1::ExperimentConfig& c = d.experiment;
  json results = json::array();
  for (const v1::RungResult& r : t.results()) {
    results.push_back({{"rung", r.rung()},
                       {"steps", r.steps()},
                       {"ap", ApJson(r.ap())},
                       {"reward", r.reward()},
                       {"train_seconds", r.train_seconds()},
                       {"images_per_s", r.images_per_s()},
                       {"worker", r.worker()},
                       {"lease", r.lease()},
                       {"continued", r.continued()},
                       {"start_step", r.start_step()},
                       {"cooldown_steps", r.cooldown_steps()},
                       {"simulated", r.simulated()},
                       {"reported_at", r.reported_at()}});
  }
  json curve = json::array();
  for (const v1::MetricPoint& m : d.metrics) {
    json point = {{"rung", m.rung()}, {"step", m.step()}, {"at", m.at()}};
    // JSON has no NaN: a diverged loss is null.
    point["loss"] = std::isfinite(m.loss()) ? json(m.loss()) : json(nullptr);
    point["ap"] = m.has_ap() ? json(m.ap()) : json(nullptr);
    curve.push_back(std::move(point));
  }
  double trained = 0;
  for (const v1::RungResult& r : t.results()) trained += r.train_seconds();
  json j = {
      {"trial", t.id()},
      {"state", std::string(KindName(t.state()))},
      {"rung", t.rung()},
      {"experiment", {{"name", c.name()}, {"algorithm", c.algorithm().kind()}, {"simulated", c.simulated()}}},
      {"spec", json::parse(ss::ArchSpecToJson(t.spec(), -1))},
      {"hash", t.hash()},
      {"drawing", ss::DrawText(p.proxy_graph, p.title)},
      {"cost",
       {{"scaling", c.proxy().scaling()},
        {"input_size", c.proxy().size()},
        {"params", t.params()},
        {"macs", t.macs()},
        {"backbone_params", p.proxy_cost.backbone_params},
        {"backbone_macs", p.proxy_cost.backbone_macs},
        {"reference",
         {{"scaling", kReferenceScale},
          {"input_size", kReferenceSize},
          {"backbone_params", p.reference_backbone.backbone_params},
          {"backbone_macs", p.reference_backbone.backbone_macs}}}}},
      {"results", results},
      {"reward", t.reward()},
      {"curve", curve},
      {"worker", {{"last", t.worker()}, {"lease", t.lease()}, {"lease_deadline", t.lease_deadline()}}},
      {"timings",
       {{"created_at", t.created_at()},
        {"leased_at", t.leased_at()},
        {"finished_at", t.finished_at()},
        {"train_seconds", trained}}},
      {"lineage",
       {{"parent", t.parent()},
        {"reused_from", t.reused_from()},
        {"attempts", t.attempts()},
        {"failure", t.failure()}}},
      {"steps", {{"trained", t.trained_steps()}, {"repeated", t.repeated_steps()}}},
      {"role", std::string(KindName(RoleOf(t)))},
      {"seed", t.seed()},
  };
  if (RoleOf(t) == v1::TRIAL_ROLE_CONTROL) j["control"] = t.control();
  if (RoleOf(t) == v1::TRIAL_ROLE_FINAL) {
    j["final_of"] = t.final_of();
    j["final_seed"] = t.final_seed();
    if (!t.control().empty()) j["control"] = t.control();
  }
  j["final"] = d.verdict ? json(VerdictLinesFor(*d.verdict, t.id())) : json::array();
  return j;
}

}  // namespace vertebra::inspect
