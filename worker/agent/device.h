// What a worker registers about the machine it trains on: its GPU's model and memory as
// nvidia-smi reports them, or the CPU's model and the machine's memory.
// Thread-safe (reads /proc and runs nvidia-smi; no shared state).
#ifndef VERTEBRA_WORKER_AGENT_DEVICE_H_
#define VERTEBRA_WORKER_AGENT_DEVICE_H_

#include <cstdint>
#include <string>

namespace vertebra::worker {

struct DeviceDescription {
  std::string description;  // e.g. "cuda:0: NVIDIA H100 80GB HBM3", "cpu: AMD EPYC 7B13".
  int64_t memory_mb = 0;    // The GPU's memory, or the machine's; 0 when unknown.
};

// Describes `device` ("cpu", "cuda", "cuda:N" or "auto"). For cuda devices, asks nvidia-smi
// about GPU N (0 when N is not a number); "auto" falls back to the CPU when nvidia-smi gives
// nothing, a cuda device keeps its bare name with memory 0. Never fails: what cannot be read
// is left out.
DeviceDescription DescribeDevice(const std::string& device);

}  // namespace vertebra::worker

#endif  // VERTEBRA_WORKER_AGENT_DEVICE_H_
