// The benchmarks run small: what they print, and their errors. Their numbers are not checked.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "bench/arch_bench.h"
#include "bench/report_bench.h"
#include "bench/search_bench.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"

namespace vertebra::bench {
namespace {

using json = nlohmann::json;

TEST(ArchBench, PrintsTheTimePerStage) {
  std::ostringstream out;
  ASSERT_TRUE(RunArchBench({.count = 20, .json = true}, out).ok());
  const json j = json::parse(out.str());
  EXPECT_EQ(j["count"], 20);
  EXPECT_EQ(j["input_size"], kProxyInputSize);
  for (const char* key : {"us_per_arch", "decode_us", "validate_us", "resolve_us", "cost_us", "hash_us"}) {
    EXPECT_GE(j[key].get<double>(), 0) << key;
  }
  std::ostringstream text;
  ASSERT_TRUE(RunArchBench({.count = 5}, text).ok());
  EXPECT_EQ(text.str().rfind("5 sampled architectures, input 512: ", 0), 0u) << text.str();
}

TEST(SearchBench, IsDeterministicAndWritesItsCurves) {
  test_util::TempDir dir("search_bench");
  const std::string config = (dir.path() / "sim.json").string();
  std::ofstream(config) << R"({"name": "sim", "budget": {"trials": 12}, "rungs": {"steps": [500]},
                               "simulation": {"seconds": 0}})";
  SearchBenchOptions o;
  o.config = config;
  o.algorithms = {"random", "evolution"};
  o.seeds = 2;
  o.parallel = 2;
  o.csv = (dir.path() / "curves.csv").string();
  o.json = true;
  std::ostringstream first, second;
  ASSERT_TRUE(RunSearchBench(o, first).ok());
  ASSERT_TRUE(RunSearchBench(o, second).ok());
  EXPECT_EQ(first.str(), second.str());
  const json rows = json::parse(first.str());
  ASSERT_EQ(rows.size(), 4u);  // A summary per algorithm, then the comparison with random search.
  EXPECT_EQ(rows[0]["algorithm"], "random");
  EXPECT_EQ(rows[3]["algorithm"], "evolution");
  EXPECT_TRUE(rows[3].contains("reaches_random_best_at"));
  EXPECT_EQ(rows[0]["rungs"], "500");
  EXPECT_EQ(rows[0]["trials_mean"], 12.0);
  std::ifstream csv(o.csv);
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "algorithm,rungs,seed,report,best_final_ap,proposal_final_ap");
}

TEST(SearchBench, ComparesWithRandomSearchAndDrawsTheCurves) {
  test_util::TempDir dir("search_bench");
  const std::string config = (dir.path() / "sim.json").string();
  std::ofstream(config) << R"({"name": "sim", "budget": {"trials": 24}, "rungs": {"steps": [100, 400], "eta": 2},
                               "algorithm": {"population": 6, "tournament": 2}, "simulation": {"seconds": 0}})";
  SearchBenchOptions o;
  o.config = config;
  o.algorithms = {"random", "evolution+seeds", "evolution+guided+predicted"};
  o.seeds = 3;
  o.first_seed = 7;
  o.parallel = 2;
  o.bootstrap = 50;
  o.svg = (dir.path() / "curves.svg").string();
  o.json = true;
  std::ostringstream out;
  ASSERT_TRUE(RunSearchBench(o, out).ok());
  const json rows = json::parse(out.str());
  ASSERT_EQ(rows.size(), 6u);  // One summary per entry, then one comparison per entry.
  EXPECT_EQ(rows[1]["algorithm"], "evolution+seeds");
  EXPECT_EQ(rows[1]["first_seed"], 7);
  for (size_t i = 3; i < 6; ++i) {
    EXPECT_EQ(rows[i]["algorithm"], rows[i - 3]["algorithm"]);
    EXPECT_EQ(rows[i]["mean_best_so_far"].size(), 24u);
    EXPECT_GE(rows[i]["last_quarter_se"].get<double>(), 0);
  }
  // Random search's own mean curve reaches its mean best of all trials, at the last trial at the latest.
  EXPECT_GT(rows[3]["reaches_random_best_at"].get<int>(), 0);
  EXPECT_LE(rows[3]["reaches_random_best_at"].get<int>(), 24);
  EXPECT_EQ(rows[3]["last_quarter_vs_random_se"], 0.0);
  std::ifstream svg(o.svg);
  std::stringstream drawn;
  drawn << svg.rdbuf();
  EXPECT_EQ(drawn.str().rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(drawn.str().find("evolution+guided+predicted"), std::string::npos);
  // Modifiers that do not exist or do not apply are refused, naming the entry.
  o.algorithms = {"random", "evolution+bogus"};
  EXPECT_EQ(RunSearchBench(o, out).message(),
            "--algorithms: unknown modifier \"bogus\" in \"evolution+bogus\" (seeds, clone, guided, predicted)");
  o.algorithms = {"random+seeds"};
  EXPECT_TRUE(absl::IsInvalidArgument(RunSearchBench(o, out)));
  o.algorithms = {"evolution"};
  EXPECT_EQ(RunSearchBench(o, out).message(),
            "--svg: the curves are drawn against random search: add random to --algorithms");
}

TEST(SearchBench, NeedsASimulatedExperiment) {
  test_util::TempDir dir("search_bench");
  SearchBenchOptions o;
  o.config = (dir.path() / "real.json").string();
  std::ofstream(o.config) << R"({"name": "real"})";
  std::ostringstream out;
  const absl::Status s = RunSearchBench(o, out);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), o.config + ": bench search needs a simulated experiment");
}

TEST(ReportBench, RendersAGeneratedHistory) {
  test_util::TempDir dir("report_bench");
  ReportBenchOptions o;
  o.trials = 30;
  o.workers = 4;
  o.repeat = 1;
  o.out = (dir.path() / "report.html").string();
  o.json = true;
  std::ostringstream out;
  ASSERT_TRUE(RunReportBench(o, out).ok());
  const json j = json::parse(out.str());
  EXPECT_EQ(j["trials"], 30);
  EXPECT_GT(j["results"].get<int>(), 0);
  EXPECT_EQ(j["report"], o.out);
  std::ifstream html(o.out);
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("generated-report-bench"), std::string::npos);
}

}  // namespace
}  // namespace vertebra::bench
