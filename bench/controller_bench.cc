#include "bench/controller_bench.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "controller/config.h"
#include "controller/scheduler.h"
#include "controller/service.h"
#include "controller/store.h"
#include "nlohmann/json.hpp"
#include "search_spaces/arch_spec.h"
#include "vertebra/v1/service.grpc.pb.h"

namespace vertebra::bench {
namespace {

namespace ctl = ::vertebra::controller;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

absl::StatusOr<v1::ExperimentConfig> BenchConfig() {
  return ctl::ParseExperimentConfig(
      R"({"name": "bench", "algorithm": {"kind": "random", "queue": 512}, "budget": {"trials": 100000000},
          "lease": {"lease_seconds": 3600, "heartbeat_seconds": 60, "max_attempts": 3},
          "rungs": {"steps": [500]}, "simulation": {"seconds": 0}})",
      "bench");
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

fs::path FreshDir(const std::string& base, const std::string& name) {
  const fs::path d = (base.empty() ? fs::temp_directory_path() : fs::path(base)) /
                     absl::StrFormat("vertebra_bench_%d_%s", getpid(), name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// One interval of a load test's time series.
struct Sample {
  double t_s = 0;        // End of the interval, seconds since the measurement started.
  double rss_mb = 0;     // Resident memory of this process (controller, store and worker threads).
  double cycles_per_s = 0;
  double p99_ms = 0;     // Of the cycles that finished in the interval.
  int64_t errors = 0;    // Failed calls in the interval.
};

struct Throughput {
  int workers = 0;
  double cycles_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  int64_t cycles = 0;
  int64_t errors = 0;  // Failed calls over the whole measurement (warm-up included).
  std::vector<Sample> samples;
};

// VmRSS of this process in MiB, from /proc/self/status; 0 where it cannot be read.
double ResidentMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

absl::StatusOr<Throughput> MeasureThroughput(int workers, const ControllerBenchOptions& f) {
  const fs::path dir = FreshDir(f.dir, absl::StrFormat("w%d", workers));
  ASSIGN_OR_RETURN(const v1::ExperimentConfig config, BenchConfig());
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore((dir / "bench.db").string()));
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Scheduler> scheduler,
                   ctl::Scheduler::Open(store.get(), config, ctl::RealClock()));
  ctl::ServerOptions options;
  options.listen = "127.0.0.1:0";
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::ControllerServer> server,
                   ctl::ControllerServer::Start(scheduler.get(), store.get(), options));
  const std::string target = absl::StrFormat("127.0.0.1:%d", server->port());
  // A few channels shared by the worker threads, as a few processes per host would.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 8; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // Distinct channels, not one shared subchannel.
    channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> cycles{0}, errors{0};
  const Clock::time_point begin = Clock::now();
  // Per worker: (seconds since `begin` when the cycle ended, its latency in ms).
  std::vector<std::vector<std::pair<double, double>>> latencies(workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::WorkerService::NewStub(channels[w % channels.size()]);
      auto deadline = [](grpc::ClientContext& c) {
        c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      };
      auto failed = [&] {
        errors.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      };
      v1::RegisterReply reg;
      while (!stop.load()) {
        grpc::ClientContext c;
        deadline(c);
        v1::RegisterRequest req;
        req.set_host("bench");
        req.set_simulated(true);
        if (stub->Register(&c, req, &reg).ok()) break;
        failed();
      }
      while (!stop.load()) {
        const Clock::time_point t0 = Clock::now();
        v1::LeaseReply lease;
        {
          grpc::ClientContext c;
          deadline(c);
          v1::LeaseRequest req;
          req.set_worker_id(reg.worker_id());
          req.set_worker_secret(reg.worker_secret());
          if (!stub->Lease(&c, req, &lease).ok()) {
            failed();
            continue;
          }
        }
        if (lease.status() != v1::LeaseReply::GRANTED) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        const Clock::time_point leased = Clock::now();
        if (f.work_seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(f.work_seconds));
        const Clock::time_point reporting = Clock::now();
        v1::ReportRequest report;
        report.set_worker_id(reg.worker_id());
        report.set_worker_secret(reg.worker_secret());
        report.set_trial(lease.trial());
        report.set_lease(lease.lease());
        report.set_simulated(true);
        for (int i = 0; i < 12; ++i) report.mutable_ap()->add_stats(0.1 * (i % 3));
        v1::ReportReply reply;
        grpc::ClientContext c;
        deadline(c);
        if (!stub->Report(&c, report, &reply).ok()) {
          failed();
          continue;
        }
        // The controller's time: the lease call plus the report call, not the simulated work.
        const Clock::time_point t2 = Clock::now();
        const double ms = std::chrono::duration<double, std::milli>((leased - t0) + (t2 - reporting)).count();
        latencies[w].emplace_back(std::chrono::duration<double>(t2 - begin).count(), ms);
        cycles.fetch_add(1);
      }
    });
  }
  // Measure after a warm-up second.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int64_t start_cycles = cycles.load();
  const Clock::time_point start = Clock::now();
  const double start_s = std::chrono::duration<double>(start - begin).count();
  // Interval ends (seconds since `start`) and the memory and errors seen at each.
  std::vector<Sample> samples;
  int64_t errors_before = errors.load();
  if (f.sample_seconds > 0) {
    for (double next = f.sample_seconds; next <= f.seconds + 1e-9; next += f.sample_seconds) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(next)));
      Sample s;
      s.t_s = next;
      s.rss_mb = ResidentMiB();
      s.errors = errors.load() - errors_before;
      errors_before += s.errors;
      samples.push_back(s);
    }
  }
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(f.seconds)));
  const int64_t measured = cycles.load() - start_cycles;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (std::thread& t : threads) t.join();
  server->Shutdown();
  std::vector<double> all;
  std::vector<std::vector<double>> by_sample(samples.size());
  for (const auto& l : latencies) {
    for (const auto& [end_s, ms] : l) {
      const double since = end_s - start_s;
      if (since < 0 || since > f.seconds) continue;  // Warm-up, or after the measurement.
      all.push_back(ms);
      if (!samples.empty()) {
        const size_t k = std::min(samples.size() - 1, static_cast<size_t>(since / f.sample_seconds));
        by_sample[k].push_back(ms);
      }
    }
  }
  for (size_t k = 0; k < samples.size(); ++k) {
    samples[k].cycles_per_s = by_sample[k].size() / f.sample_seconds;
    samples[k].p99_ms = Percentile(by_sample[k], 0.99);
  }
  Throughput t;
  t.workers = workers;
  t.cycles = measured;
  t.cycles_per_s = measured / elapsed;
  t.p50_ms = Percentile(all, 0.5);
  t.p99_ms = Percentile(all, 0.99);
  t.errors = errors.load();
  t.samples = std::move(samples);
  server.reset();
  scheduler.reset();
  store.reset();
  fs::remove_all(dir);
  return t;
}

// The in-memory size of one finished trial's record as the scheduler holds it (a sampled
// architecture with its spec, decisions and one rung result), for comparing a load test's memory
// growth per trial with the history it keeps.
absl::StatusOr<int64_t> TrialRecordBytes() {
  ASSIGN_OR_RETURN(const v1::ExperimentConfig config, BenchConfig());
  ASSIGN_OR_RETURN(const search_spaces::SearchSpace space, ctl::MakeSearchSpace(config));
  std::mt19937_64 rng(1);
  const std::vector<int> d = space.Sample(rng);
  v1::Trial t;
  ASSIGN_OR_RETURN(*t.mutable_spec(), space.Decode(d));
  t.set_hash(search_spaces::ArchHash(t.spec()));
  for (int x : d) t.add_decisions(x);
  v1::RungResult* r = t.add_results();
  for (int k = 0; k < 12; ++k) r->mutable_ap()->add_stats(0.1);
  // Plus the hash's two index entries (finished and proposed by hash).
  return static_cast<int64_t>(t.SpaceUsedLong() + 2 * (sizeof(std::string) + t.hash().capacity() + 32));
}

struct HistoryResult {
  int history = 0;
  double fill_s = 0, restore_s = 0;
  double p50_ms = 0, p99_ms = 0;
};

absl::StatusOr<HistoryResult> MeasureHistory(int history, const ControllerBenchOptions& f) {
  const fs::path dir = FreshDir(f.dir, absl::StrFormat("h%d", history));
  const std::string path = (dir / "bench.db").string();
  HistoryResult out;
  out.history = history;
  ASSIGN_OR_RETURN(const v1::ExperimentConfig config, BenchConfig());
  {
    ASSIGN_OR_RETURN(const std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(path));
    ASSIGN_OR_RETURN(const search_spaces::SearchSpace space, ctl::MakeSearchSpace(config));
    std::mt19937_64 rng(1);
    const Clock::time_point t0 = Clock::now();
    ctl::Mutation create;
    create.create_experiment = config;
    create.experiment_state = v1::EXPERIMENT_RUNNING;
    RETURN_IF_ERROR(store->Apply(create));
    for (int begin = 0; begin < history; begin += 5000) {
      ctl::Mutation m;
      for (int i = begin; i < std::min(history, begin + 5000); ++i) {
        const std::vector<int> d = space.Sample(rng);
        v1::Trial t;
        t.set_id(i + 1);
        ASSIGN_OR_RETURN(*t.mutable_spec(), space.Decode(d));
        t.set_hash(search_spaces::ArchHash(t.spec()));
        for (int x : d) t.add_decisions(x);
        t.set_state(v1::DONE);
        v1::RungResult* r = t.add_results();
        r->set_lease(i + 1);
        r->set_sequence(i + 1);
        r->set_simulated(true);
        for (int k = 0; k < 12; ++k) r->mutable_ap()->add_stats(std::uniform_real_distribution<double>(0, 0.5)(rng));
        t.set_lease(i + 1);
        m.trials.push_back(std::move(t));
      }
      RETURN_IF_ERROR(store->Apply(m));
    }
    out.fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Store> store, ctl::OpenSqliteStore(path));
  const Clock::time_point t1 = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<ctl::Scheduler> scheduler,
                   ctl::Scheduler::Open(store.get(), config, ctl::RealClock()));
  out.restore_s = std::chrono::duration<double>(Clock::now() - t1).count();
  v1::RegisterRequest registration;
  registration.set_host("bench");
  registration.set_device("cpu");
  registration.set_simulated(true);
  ASSIGN_OR_RETURN(const v1::RegisterReply registered, scheduler->Register(registration));
  v1::LeaseRequest ask;
  ask.set_worker_id(registered.worker_id());
  ask.set_worker_secret(registered.worker_secret());
  std::vector<double> lease_ms;
  while (static_cast<int>(lease_ms.size()) < f.lease_samples) {
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<v1::LeaseReply> r = scheduler->Lease(ask);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!r.ok()) return r.status();
    if (r->status() != v1::LeaseReply::GRANTED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    lease_ms.push_back(ms);
    v1::ReportRequest report;
    report.set_worker_id(registered.worker_id());
    report.set_worker_secret(registered.worker_secret());
    report.set_trial(r->trial());
    report.set_lease(r->lease());
    for (int i = 0; i < 12; ++i) report.mutable_ap()->add_stats(0.2);
    report.set_simulated(true);
    RETURN_IF_ERROR(scheduler->Report(report).status());
  }
  out.p50_ms = Percentile(lease_ms, 0.5);
  out.p99_ms = Percentile(lease_ms, 0.99);
  scheduler.reset();
  store.reset();
  fs::remove_all(dir);
  return out;
}

}  // namespace

absl::Status RunControllerBench(const ControllerBenchOptions& f, std::ostream& os) {
  json rows = json::array(), hist = json::array();
  for (int w : f.workers) {
    ASSIGN_OR_RETURN(const Throughput t, MeasureThroughput(w, f));
    // Memory growth per finished cycle (each leases a new trial) after the first interval, by
    // least squares over the samples, against the record the scheduler keeps per trial.
    double slope_kib = 0;
    if (t.samples.size() >= 3) {
      double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, cum = 0;
      for (size_t k = 0; k < t.samples.size(); ++k) {
        cum += t.samples[k].cycles_per_s * f.sample_seconds;
        if (k == 0) continue;
        n += 1, sx += cum, sy += t.samples[k].rss_mb, sxx += cum * cum, sxy += cum * t.samples[k].rss_mb;
      }
      const double den = n * sxx - sx * sx;
      if (den > 0) slope_kib = (n * sxy - sx * sy) / den * 1024.0;
    }
    ASSIGN_OR_RETURN(const int64_t record_bytes, TrialRecordBytes());
    json samples = json::array();
    for (const Sample& s : t.samples) {
      samples.push_back({{"t_s", s.t_s},
                         {"rss_mb", s.rss_mb},
                         {"cycles_per_s", s.cycles_per_s},
                         {"p99_ms", s.p99_ms},
                         {"errors", s.errors}});
    }
    rows.push_back({{"workers", w},
                    {"cycles_per_s", t.cycles_per_s},
                    {"p50_ms", t.p50_ms},
                    {"p99_ms", t.p99_ms},
                    {"cycles", t.cycles},
                    {"errors", t.errors},
                    {"work_seconds", f.work_seconds},
                    {"rss_kib_per_trial", slope_kib},
                    {"trial_record_kib", record_bytes / 1024.0},
                    {"samples", samples}});
    if (!f.json) {
      os << absl::StrFormat("%4d workers: %8.1f lease+report cycles/s, cycle p50 %.2f ms, p99 %.2f ms, %d failed calls\n",
                            w, t.cycles_per_s, t.p50_ms, t.p99_ms, t.errors);
      if (t.samples.size() >= 3) {
        os << absl::StrFormat(
            "  memory after the first interval: %.2f KiB per trial; the scheduler's record of a trial: %.2f KiB\n",
            slope_kib, record_bytes / 1024.0);
      }
      for (const Sample& s : t.samples) {
        os << absl::StrFormat("  %7.0f s: RSS %7.1f MiB, %8.1f cycles/s, p99 %7.2f ms, %d failed\n", s.t_s, s.rss_mb,
                              s.cycles_per_s, s.p99_ms, s.errors);
      }
    }
  }
  for (int h : f.history) {
    if (h <= 0) continue;  // --history 0: no history measurement.
    ASSIGN_OR_RETURN(const HistoryResult r, MeasureHistory(h, f));
    hist.push_back({{"history", h},
                    {"fill_s", r.fill_s},
                    {"restore_s", r.restore_s},
                    {"lease_p50_ms", r.p50_ms},
                    {"lease_p99_ms", r.p99_ms}});
    if (!f.json) {
      os << absl::StrFormat(
          "%7d trials of history: lease p50 %.3f ms, p99 %.3f ms; restore at start-up %.2f s (filled in %.1f s)\n", h,
          r.p50_ms, r.p99_ms, r.restore_s, r.fill_s);
    }
  }
  if (f.json) os << json{{"throughput", rows}, {"history", hist}}.dump() << "\n";
  return absl::OkStatus();
}

}  // namespace vertebra::bench
