// Every call of the worker service (and the admin calls that reach the scheduler) fed with
// arbitrary protobuf bytes, as the gRPC layer would hand them over: parsed into the request type,
// then given to the scheduler over the in-memory store, with a fake clock. One scheduler lives
// across inputs, so calls meet the state earlier ones left (workers, leases, results).
//
// Input: byte 0 picks the call; byte 1 holds flags (bit 0: put the named worker's real secret in
// the request, so that calls get past the identity check; bit 1: run a policy round first; bit 2:
// expire leases first; bits 3-7: seconds to advance the clock); the rest is the request.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "controller/config.h"
#include "controller/scheduler.h"
#include "controller/store.h"
#include "tests/testing/fake_clock.h"
#include "vertebra/v1/service.pb.h"

namespace {

namespace ctl = vertebra::controller;
namespace v1 = vertebra::v1;

// A small simulated search: two rungs, short leases, evolution (no LibTorch).
constexpr char kConfig[] = R"({"name": "fuzz", "seed": 1,
  "algorithm": {"kind": "evolution", "population": 4, "tournament": 2, "queue": 3},
  "budget": {"trials": 40, "parallel": 4}, "rungs": {"steps": [100, 300], "eta": 2},
  "lease": {"lease_seconds": 30, "heartbeat_seconds": 5, "max_attempts": 3},
  "simulation": {"seconds": 0}})";
// A fresh search after this many inputs, so that one run keeps meeting a search in all its phases.
constexpr int kInputsPerSearch = 2000;

struct World {
  std::unique_ptr<ctl::Store> store = ctl::NewMemoryStore();
  vertebra::test_util::FakeClock clock;
  std::unique_ptr<ctl::Scheduler> scheduler;
  std::map<std::string, std::string> secrets;  // Worker id -> its secret.
  int inputs = 0;
};

std::unique_ptr<World> NewWorld() {
  auto world = std::make_unique<World>();
  static const v1::ExperimentConfig config = [] {
    absl::StatusOr<v1::ExperimentConfig> c = ctl::ParseExperimentConfig(kConfig, "fuzz");
    if (!c.ok()) std::abort();
    return *c;
  }();
  ctl::SchedulerOptions options;
  options.policy_thread = false;
  absl::StatusOr<std::unique_ptr<ctl::Scheduler>> s =
      ctl::Scheduler::Open(world->store.get(), config, &world->clock, options);
  if (!s.ok()) std::abort();
  world->scheduler = std::move(*s);
  return world;
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

template <typename Request>
void Identify(World& w, bool real_secret, Request& request) {
  if (!real_secret) return;
  auto it = w.secrets.find(request.worker_id());
  if (it != w.secrets.end()) request.set_worker_secret(it->second);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<World> world = NewWorld();
  if (size < 2) return 0;
  if (++world->inputs > kInputsPerSearch || world->scheduler->Status().state() != v1::EXPERIMENT_RUNNING) world = NewWorld();
  World& w = *world;
  const uint8_t call = data[0], flags = data[1];
  const bool real_secret = (flags & 1) != 0;
  if ((flags & 2) != 0) (void)w.scheduler->RunPolicy();
  w.clock.Advance(flags >> 3);
  if ((flags & 4) != 0) (void)w.scheduler->ExpireLeases();
  data += 2;
  size -= 2;
  switch (call % 8) {
    case 0: {
      v1::RegisterRequest r;
      if (!Parse(data, size, &r)) return 0;
      absl::StatusOr<v1::RegisterReply> reply = w.scheduler->Register(r);
      if (reply.ok()) w.secrets[reply->worker_id()] = reply->worker_secret();
      break;
    }
    case 1: {
      v1::LeaseRequest r;
      if (!Parse(data, size, &r)) return 0;
      Identify(w, real_secret, r);
      (void)w.scheduler->Lease(r);
      break;
    }
    case 2: {
      v1::HeartbeatRequest r;
      if (!Parse(data, size, &r)) return 0;
      Identify(w, real_secret, r);
      (void)w.scheduler->Heartbeat(r);
      break;
    }
    case 3: {
      v1::ReportRequest r;
      if (!Parse(data, size, &r)) return 0;
      Identify(w, real_secret, r);
      (void)w.scheduler->Report(r);
      break;
    }
    case 4: {
      v1::ReleaseRequest r;
      if (!Parse(data, size, &r)) return 0;
      Identify(w, real_secret, r);
      (void)w.scheduler->Release(r);
      break;
    }
    case 5: {  // AdminService.GetTrial and GetMetrics.
      v1::GetTrialRequest r;
      if (!Parse(data, size, &r)) return 0;
      if (w.scheduler->GetTrial(r.id()).ok()) (void)w.store->Metrics(r.id());
      break;
    }
    case 6: {  // AdminService.ListTrials and Top, within the service's limits.
      v1::ListTrialsRequest r;
      if (!Parse(data, size, &r)) return 0;
      if (r.offset() < 0 || r.limit() < 0 || r.limit() > 10000) return 0;
      (void)w.store->ListTrials(r.offset(), r.limit() ? r.limit() : 100);
      (void)w.store->TopTrials(r.limit() ? r.limit() : 10);
      (void)w.scheduler->Status();
      break;
    }
    case 7: {  // AdminService.Stop (rarely: it ends the search, and the next input starts another).
      v1::StopRequest r;
      if (!Parse(data, size, &r) || r.reason() != "stop") return 0;
      (void)w.scheduler->Stop(r.reason());
      break;
    }
  }
  return 0;
}
