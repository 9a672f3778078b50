#include "inspect/verdict.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller/final_stage.h"
#include "proto/kinds.h"

namespace vertebra::inspect {
namespace {

double SecondsOf(const v1::Trial& t) {
  double s = 0;
  for (const v1::RungResult& r : t.results()) s += r.train_seconds();
  return s;
}

FinalSubject SubjectOf(const v1::Trial& t) {
  FinalSubject s;
  s.trial = t.id();
  s.control = RoleOf(t) == v1::TRIAL_ROLE_CONTROL;
  s.name = s.control ? t.control() : absl::StrFormat("trial %d", t.id());
  s.params = t.params();
  s.macs = t.macs();
  return s;
}

std::string Num(double x, int digits = 3) {
  return std::isfinite(x) ? absl::StrFormat("%.*f", digits, x) : std::string("-");
}

std::string Describe(const FinalSubject& s) {
  if (s.aps.empty()) {
    return absl::StrFormat("%s (no final run finished yet, %.1f M multiply-adds, %.2f M parameters)", s.name,
                           s.macs / 1e6, s.params / 1e6);
  }
  return absl::StrFormat("%s (AP %s +- %s over %d seed%s, %.1f M multiply-adds, %.2f M parameters)", s.name,
                         Num(Mean(s.aps)), Num(SampleSd(s.aps)), s.aps.size(), s.aps.size() == 1 ? "" : "s",
                         s.macs / 1e6, s.params / 1e6);
}

std::string Outcome(const Verdict& v, const FinalComparison& c, bool name_control) {
  const FinalSubject& f = v.finalists[c.finalist];
  const FinalSubject& k = v.controls[c.control];
  const std::string them = name_control ? k.name : "it";
  if (!c.decided) return absl::StrFormat("%s vs %s: not decided yet (fewer than two seeds each)", f.name, them);
  const std::string how = absl::StrFormat("%s pooled SDs, Welch p = %s", Num(c.pooled_sds, 1),
                                          Num(c.welch.p_greater, 4));
  return c.beats ? absl::StrFormat("%s beats %s (by %s)", f.name, them, how)
                 : absl::StrFormat("%s is not distinguishable from %s (%s)", f.name, them, how);
}

}  // namespace

std::optional<Verdict> ComputeVerdict(const v1::ExperimentConfig& config, const std::vector<v1::Trial>& trials) {
  std::map<int64_t, v1::Trial> by_id;
  for (const v1::Trial& t : trials) by_id[t.id()] = t;
  Verdict v;
  v.config = config.final();
  bool any = false;
  std::map<int64_t, std::vector<const v1::Trial*>> runs;  // Subject -> its final runs at the final steps.
  for (const auto& [id, t] : by_id) {
    switch (RoleOf(t)) {
      case v1::TRIAL_ROLE_FINAL:
        any = true;
        v.final_seconds += SecondsOf(t);
        break;
      case v1::TRIAL_ROLE_CONTROL:
        v.control_seconds += SecondsOf(t);
        break;
      default:
        v.search_seconds += SecondsOf(t);
        break;
    }
  }
  if (!any) return std::nullopt;
  // The latest final section decides (a later launch may have asked for other steps or more
  // seeds than the stored configuration says): the steps of the newest run, the most seeds.
  const v1::Trial* newest = nullptr;
  for (const auto& [id, t] : by_id) {
    if (RoleOf(t) == v1::TRIAL_ROLE_FINAL) newest = &t;
  }
  v.config.set_steps(newest->steps());
  runs.clear();
  int32_t seeds = 0;
  for (const auto& [id, t] : by_id) {
    if (RoleOf(t) == v1::TRIAL_ROLE_FINAL && t.steps() == v.config.steps()) {
      runs[t.final_of()].push_back(&t);
      seeds = std::max(seeds, t.final_seed() + 1);
    }
  }
  v.config.set_seeds(seeds);
  // Finalists in the search's order; controls by id.
  int32_t rung = -1;
  std::vector<int64_t> order = controller::RankAtHighestRung(by_id, &rung);
  if (v.config.top_k() > 0 && order.size() < static_cast<size_t>(v.config.top_k())) {
    v.note = absl::StrFormat("final.top_k %d asked; %d trial%s reached the highest rung: validating %s",
                             v.config.top_k(), order.size(), order.size() == 1 ? "" : "s",
                             order.empty() ? "none" : "those");
  }
  for (int64_t id : order) {
    if (runs.count(id) > 0) v.finalists.push_back(SubjectOf(by_id.at(id)));
  }
  for (const auto& [id, t] : by_id) {
    if (RoleOf(t) == v1::TRIAL_ROLE_CONTROL && runs.count(id) > 0) v.controls.push_back(SubjectOf(t));
  }
  v.complete = true;
  for (std::vector<FinalSubject>* group : {&v.finalists, &v.controls}) {
    for (FinalSubject& s : *group) {
      std::vector<const v1::Trial*>& rs = runs[s.trial];
      std::sort(rs.begin(), rs.end(), [](const v1::Trial* a, const v1::Trial* b) { return a->final_seed() < b->final_seed(); });
      for (const v1::Trial* r : rs) {
        if (r->state() == v1::DONE && r->results_size() > 0 && r->results(0).ap().stats_size() > 0) {
          s.runs.push_back(r->id());
          s.aps.push_back(r->results(0).ap().stats(0));
        } else if (r->state() == v1::FAILED) {
          ++s.failed;
        } else if (r->state() == v1::PENDING || r->state() == v1::LEASED) {
          ++s.pending;
          v.complete = false;
        }
      }
    }
  }
  for (size_t i = 0; i < v.finalists.size(); ++i) {
    for (size_t j = 0; j < v.controls.size(); ++j) {
      FinalComparison c;
      c.finalist = i;
      c.control = j;
      c.welch = WelchTest(v.finalists[i].aps, v.controls[j].aps);
      c.decided = v.finalists[i].aps.size() >= 2 && v.controls[j].aps.size() >= 2;
      c.pooled_sds = c.welch.pooled_sd > 0 ? c.welch.difference / c.welch.pooled_sd
                     : c.welch.difference > 0 ? INFINITY
                     : c.welch.difference < 0 ? -INFINITY
                                              : 0;
      if (!c.decided) c.pooled_sds = NAN;
      c.beats = c.decided && c.pooled_sds > kBeatsPooledSds && c.welch.p_greater < kBeatsP;
      v.comparisons.push_back(c);
    }
  }
  return v;
}

std::string VerdictText(const Verdict& v) {
  std::string out = absl::StrFormat(
      "Final validation: %d finalist%s and %d control%s, %d seeds each at %d steps%s\n", v.finalists.size(),
      v.finalists.size() == 1 ? "" : "s", v.controls.size(), v.controls.size() == 1 ? "" : "s", v.config.seeds(),
      v.config.steps(), v.complete ? "" : " (runs still going)");
  if (!v.note.empty()) absl::StrAppend(&out, "  note: ", v.note, "\n");
  absl::StrAppendFormat(&out, "  %-22s %-8s %7s %7s %6s %10s %8s  %s\n", "subject", "role", "AP mean", "AP SD", "seeds",
                        "MACs (M)", "params", "APs");
  for (const std::vector<FinalSubject>* group : {&v.finalists, &v.controls}) {
    for (const FinalSubject& s : *group) {
      std::vector<std::string> aps;
      for (double a : s.aps) aps.push_back(absl::StrFormat("%.3f", a));
      absl::StrAppendFormat(&out, "  %-22s %-8s %7s %7s %6d %10.1f %7.2fM  %s%s\n", s.name.substr(0, 22),
                            s.control ? "control" : "finalist", Num(Mean(s.aps)), Num(SampleSd(s.aps)), s.aps.size(),
                            s.macs / 1e6, s.params / 1e6, absl::StrJoin(aps, " "),
                            s.pending + s.failed > 0
                                ? absl::StrFormat(" (%d not finished, %d failed)", s.pending, s.failed)
                                : "");
    }
  }
  for (const FinalComparison& c : v.comparisons) absl::StrAppend(&out, "  ", Outcome(v, c, true), "\n");
  const double total = v.search_seconds + v.control_seconds + v.final_seconds;
  if (total > 0) {
    absl::StrAppendFormat(&out, "  compute: search %.0f s, controls %.0f s (%.0f%%), final validation %.0f s (%.0f%%)\n",
                          v.search_seconds, v.control_seconds, 100 * v.control_seconds / total, v.final_seconds,
                          100 * v.final_seconds / total);
  }
  return out;
}

std::vector<std::string> VerdictSentences(const Verdict& v) {
  std::vector<std::string> out;
  for (size_t j = 0; j < v.controls.size(); ++j) {
    std::vector<std::string> parts;
    for (const FinalComparison& c : v.comparisons) {
      if (c.control == j) parts.push_back(Outcome(v, c, false));
    }
    out.push_back(absl::StrFormat("Against %s: %s.", Describe(v.controls[j]),
                                  parts.empty() ? "no finalist to compare" : absl::StrJoin(parts, "; ")));
  }
  return out;
}

std::vector<std::string> VerdictLinesFor(const Verdict& v, int64_t trial) {
  std::vector<std::string> out;
  for (const FinalComparison& c : v.comparisons) {
    const FinalSubject& f = v.finalists[c.finalist];
    const FinalSubject& k = v.controls[c.control];
    if (f.trial != trial && k.trial != trial) continue;
    if (out.empty()) out.push_back(Describe(f.trial == trial ? f : k));
    out.push_back(Outcome(v, c, true));
  }
  return out;
}

nlohmann::json VerdictJson(const Verdict& v) {
  using json = nlohmann::json;
  auto num = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  auto subject = [&](const FinalSubject& s) {
    return json{{"trial", s.trial}, {"name", s.name},        {"role", s.control ? "control" : "finalist"},
                {"macs", s.macs},   {"params", s.params},    {"runs", s.runs},
                {"aps", s.aps},     {"mean", num(Mean(s.aps))}, {"sd", num(SampleSd(s.aps))},
                {"pending", s.pending}, {"failed", s.failed}};
  };
  json j = {{"top_k", v.config.top_k()}, {"seeds", v.config.seeds()}, {"steps", v.config.steps()},
            {"complete", v.complete},    {"note", v.note},
            {"rule", absl::StrFormat("beats: difference > %g pooled SDs and one-sided Welch p < %g", kBeatsPooledSds,
                                     kBeatsP)},
            {"train_seconds", {{"search", v.search_seconds}, {"controls", v.control_seconds}, {"final", v.final_seconds}}}};
  j["finalists"] = json::array();
  for (const FinalSubject& s : v.finalists) j["finalists"].push_back(subject(s));
  j["controls"] = json::array();
  for (const FinalSubject& s : v.controls) j["controls"].push_back(subject(s));
  j["comparisons"] = json::array();
  for (const FinalComparison& c : v.comparisons) {
    j["comparisons"].push_back({{"finalist", v.finalists[c.finalist].trial},
                                {"control", v.controls[c.control].trial},
                                {"control_name", v.controls[c.control].name},
                                {"difference", num(c.welch.difference)},
                                {"pooled_sd", num(c.welch.pooled_sd)},
                                {"pooled_sds", num(c.pooled_sds)},
                                {"t", num(c.welch.t)},
                                {"df", num(c.welch.df)},
                                {"p", num(c.welch.p_greater)},
                                {"decided", c.decided},
                                {"verdict", !c.decided ? "undecided" : c.beats ? "beats" : "not distinguishable from"}});
  }
  j["sentences"] = VerdictSentences(v);
  return j;
}

}  // namespace vertebra::inspect
