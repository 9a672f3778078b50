#include "controller/rl_policy.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "proto/kinds.h"

namespace vertebra::controller {
namespace {

namespace ss = search_spaces;

// Zoph & Le (2017) initialize the controller's weights uniformly in [-0.08, 0.08].
constexpr double kInitScale = 0.08;
// Bumped whenever the checkpoint layout changes; older checkpoints are then refused.
// 3: per-decision log-probabilities in the buffer, zero-initialized heads, the space's prior.
constexpr int64_t kCheckpointVersion = 3;
// Floor of the reward variance used to scale advantages: rewards that never differ do not
// blow the step up.
constexpr double kMinRewardVariance = 1e-6;

// The controller network: an embedding of the previous decision, one LSTM cell, and a linear
// head per decision. Every table is laid out over (step, option) pairs: decision t's options
// take rows offset(t) .. offset(t) + num_options(t) - 1 of the embedding and of the heads; the
// embedding's last row is the start token. Parameters are built by hand rather than through
// nn::LSTMCell / nn::Linear, whose constructors would draw from LibTorch's global generator.
// The heads start at zero: the untrained policy's learned logits are exactly 0, so it samples
// from the search space's prior alone, which is SearchSpace::Sample's uniform distribution.
// Double precision: the log-probabilities it reports are doubles, and PPO's ratios compare them
// against recomputed ones.
class ControllerImpl : public torch::nn::Module {
 public:
  ControllerImpl(const std::vector<int>& num_options, int64_t hidden, at::Generator& init) : hidden_(hidden) {
    int64_t total = 0;
    for (int n : num_options) {
      offsets_.push_back(total);
      sizes_.push_back(n);
      total += n;
    }
    auto uniform = [&](std::vector<int64_t> shape) {
      return torch::empty(shape, torch::kDouble).uniform_(-kInitScale, kInitScale, init);
    };
    // Registration order fixes the generator draws and Adam's parameter order: keep it.
    embedding_ = register_parameter("embedding", uniform({total + 1, hidden}));
    w_ih_ = register_parameter("lstm_w_ih", uniform({4 * hidden, hidden}));
    w_hh_ = register_parameter("lstm_w_hh", uniform({4 * hidden, hidden}));
    b_ih_ = register_parameter("lstm_b_ih", uniform({4 * hidden}));
    b_hh_ = register_parameter("lstm_b_hh", uniform({4 * hidden}));
    head_w_ = register_parameter("head_w", torch::zeros({total, hidden}, torch::kDouble));
    head_b_ = register_parameter("head_b", torch::zeros({total}, torch::kDouble));
    start_token_ = total;
  }

  int64_t start_token() const { return start_token_; }
  // The embedding row for decision `step` having chosen `option`: the next step's input.
  int64_t Token(int step, int option) const { return offsets_[step] + option; }

  // Zero (h, c) for a batch of `batch` sequences.
  std::pair<torch::Tensor, torch::Tensor> InitialState(int64_t batch) const {
    return {torch::zeros({batch, hidden_}, torch::kDouble), torch::zeros({batch, hidden_}, torch::kDouble)};
  }

  // One step: inputs are embedding rows `tokens` [B]; returns the new (h, c), each [B, hidden].
  std::pair<torch::Tensor, torch::Tensor> Step(const torch::Tensor& tokens, const torch::Tensor& h,
                                               const torch::Tensor& c) {
    torch::Tensor x = embedding_.index_select(0, tokens);
    std::tuple<torch::Tensor, torch::Tensor> hc = torch::lstm_cell(x, {h, c}, w_ih_, w_hh_, b_ih_, b_hh_);
    return {std::get<0>(hc), std::get<1>(hc)};
  }

  // Decision `step`'s logits from the LSTM output h [B, hidden]: [B, num_options(step)].
  torch::Tensor Logits(int step, const torch::Tensor& h) {
    return torch::linear(h, head_w_.narrow(0, offsets_[step], sizes_[step]),
                         head_b_.narrow(0, offsets_[step], sizes_[step]));
  }

 private:
  int64_t hidden_;
  std::vector<int64_t> offsets_, sizes_;
  int64_t start_token_ = 0;
  torch::Tensor embedding_, w_ih_, w_hh_, b_ih_, b_hh_, head_w_, head_b_;
};
TORCH_MODULE(Controller);

// How the learned logits become the policy's: ENAS's temperature and tanh bound how far the
// policy can move from its prior, which keeps it exploring.
struct LogitShape {
  double temperature = 0;    // 0: none.
  double tanh_constant = 0;  // 0: no tanh.
};

// Log-probabilities [B, n]: softmax of the shaped learned logits [B, n] plus the log prior
// [B, n] (the log completion weights: -inf on masked options).
torch::Tensor PolicyLogSoftmax(torch::Tensor logits, const torch::Tensor& log_prior, const LogitShape& shape) {
  if (shape.temperature > 0) logits = logits / shape.temperature;
  if (shape.tanh_constant > 0) logits = shape.tanh_constant * torch::tanh(logits);
  return torch::log_softmax(logits + log_prior, 1);
}

// Entropy [B] of the masked distributions. Masked entries contribute 0 (not 0 * -inf), and
// their gradient stays finite.
torch::Tensor MaskedEntropy(const torch::Tensor& log_probs, const torch::Tensor& mask) {
  return -(log_probs.exp() * log_probs.masked_fill(mask.logical_not(), 0.0)).sum(1);
}

// The completion weights of a replayed decision sequence (DecisionCursor::CompletionWeights),
// one row per step; InvalidArgument when the sequence is not a valid one of `space`.
absl::StatusOr<std::vector<std::vector<int64_t>>> ReplayWeights(const ss::SearchSpace& space,
                                                                const std::vector<int>& decisions) {
  if (static_cast<int>(decisions.size()) != space.num_decisions()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d decisions, the space has %d", decisions.size(), space.num_decisions()));
  }
  ss::DecisionCursor cursor(space);
  std::vector<std::vector<int64_t>> weights;
  weights.reserve(decisions.size());
  for (int d : decisions) {
    weights.push_back(cursor.CompletionWeights());
    absl::Status status = cursor.Choose(d);
    if (!status.ok()) return status;
  }
  return weights;
}

// The mask [B, n] (weight > 0) and the log prior [B, n] (log weight; -inf where masked) of rows
// of completion weights.
std::pair<torch::Tensor, torch::Tensor> PriorTensors(const std::vector<std::vector<int64_t>>& rows) {
  const int64_t n = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
  torch::Tensor mask = torch::empty({static_cast<int64_t>(rows.size()), n}, torch::kBool);
  torch::Tensor log_prior = torch::empty({static_cast<int64_t>(rows.size()), n}, torch::kDouble);
  bool* m = mask.data_ptr<bool>();
  double* l = log_prior.data_ptr<double>();
  for (const std::vector<int64_t>& row : rows) {
    for (int64_t w : row) {
      *m++ = w > 0;
      *l++ = w > 0 ? std::log(static_cast<double>(w)) : -std::numeric_limits<double>::infinity();
    }
  }
  return {mask, log_prior};
}

// The absl::Status for an exception escaping LibTorch.
absl::Status StatusFrom(const std::exception& e, absl::StatusCode code) {
  std::string message = e.what();
  const size_t newline = message.find('\n');
  if (newline != std::string::npos) message.resize(newline);
  return absl::Status(code, message);
}

struct Buffered {
  int64_t trial = 0;
  std::vector<int> decisions;
  std::vector<double> old_log_probs;  // log pi_old(decision_t | earlier ones), per decision.
  double reward = 0;
};

// The inputs of a teacher-forced pass over a batch of sequences, per step.
struct Batch {
  std::vector<torch::Tensor> tokens;      // [B] int64: the embedding rows fed at step t.
  std::vector<torch::Tensor> masks;       // [B, n_t] bool.
  std::vector<torch::Tensor> log_priors;  // [B, n_t] double: log completion weights, -inf masked.
  std::vector<torch::Tensor> chosen;      // [B, 1] int64: the option taken at step t.
};

// A teacher-forced pass: per-decision log-probabilities of the chosen options [B, T] and each
// sequence's summed entropy [B].
struct Evaluation {
  torch::Tensor log_probs;
  torch::Tensor entropy;
};

class RlPolicy : public Policy {
 public:
  RlPolicy(const ss::SearchSpace& space, const v1::AlgorithmConfig& config, uint64_t seed)
      : space_(space),
        config_(config),
        kind_(AlgorithmOf(config)),
        shape_{config.temperature(), config.tanh_constant()},
        generator_(at::detail::createCPUGenerator(seed)),
        net_(nullptr),
        optimizer_(nullptr) {
    for (const ss::Decision& d : space.decisions()) num_options_.push_back(d.num_options);
    // The generator first initializes the weights, then draws every sample.
    net_ = Controller(num_options_, config.hidden(), generator_);
    optimizer_ = MakeOptimizer(net_);
  }

  // Behaviour cloning on `seeds` (valid sequences of the space): `steps` Adam steps on the mean
  // negative log-likelihood of the sequences, with an optimizer of its own.
  void Clone(const std::vector<std::vector<int>>& seeds, int steps) {
    if (seeds.empty() || steps <= 0) return;
    std::vector<Buffered> sequences;
    for (const std::vector<int>& d : seeds) sequences.push_back({0, d, {}, 0});
    const Batch batch = MakeBatch(sequences);
    torch::optim::Adam adam(net_->parameters(), torch::optim::AdamOptions(config_.learning_rate()));
    for (int i = 0; i < steps; ++i) {
      const torch::Tensor loss = -Evaluate(batch).log_probs.sum(1).mean();
      adam.zero_grad();
      loss.backward();
      adam.step();
    }
  }

  v1::Algorithm algorithm() const override { return kind_; }

  absl::StatusOr<Proposal> Propose() override {
    ++proposals_;
    try {
      return Sample();
    } catch (const std::exception& e) {
      // Not reachable with valid masks and fixed shapes.
      return StatusFrom(e, absl::StatusCode::kInternal);
    }
  }

  absl::Status Observe(const Observation& o) override {
    absl::StatusOr<std::vector<std::vector<int64_t>>> weights = ReplayWeights(space_, o.decisions);
    if (!weights.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: ignoring trial %d: %s", config_.kind(), o.trial, weights.status().message()));
    }
    if (!std::isfinite(o.reward)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: ignoring trial %d: its reward is not finite", config_.kind(), o.trial));
    }
    try {
      Buffered b{o.trial, o.decisions, {}, o.reward};
      bool have_log_probs = static_cast<int>(o.log_probs.size()) == space_.num_decisions();
      for (double lp : o.log_probs) have_log_probs = have_log_probs && std::isfinite(lp);
      if (have_log_probs) {
        b.old_log_probs = o.log_probs;
      } else {
        torch::NoGradGuard no_grad;
        const torch::Tensor lp = Evaluate(MakeBatch({b})).log_probs.contiguous();
        b.old_log_probs.assign(lp.data_ptr<double>(), lp.data_ptr<double>() + lp.numel());
      }
      buffer_.push_back(std::move(b));
      if (static_cast<int>(buffer_.size()) >= config_.update_every()) {
        Update();
        buffer_.clear();
      }
      return absl::OkStatus();
    } catch (const std::exception& e) {
      const size_t dropped = buffer_.size();
      buffer_.clear();
      return absl::InternalError(
          absl::StrFormat("%s: update failed (%s); dropped %d results", config_.kind(), e.what(), dropped));
    }
  }

  double Entropy() const override { return last_entropy_; }

  std::vector<PolicyUpdate> TakeUpdates() override { return std::exchange(update_log_, {}); }

  std::string Save() const override {
    torch::serialize::OutputArchive archive;
    archive.write("version", c10::IValue(kCheckpointVersion));
    archive.write("algorithm", c10::IValue(config_.kind()));
    archive.write("identity", c10::IValue(Identity()));
    torch::serialize::OutputArchive net_archive, optimizer_archive;
    net_->save(net_archive);
    optimizer_->save(optimizer_archive);
    archive.write("net", net_archive);
    archive.write("optimizer", optimizer_archive);
    {
      std::lock_guard<std::mutex> lock(generator_.mutex());
      archive.write("generator", generator_.get_state(), /*is_buffer=*/true);
    }
    archive.write("baseline", c10::IValue(baseline_));
    archive.write("baseline_set", c10::IValue(baseline_set_));
    archive.write("reward_variance", c10::IValue(reward_variance_));
    archive.write("updates", c10::IValue(updates_));
    archive.write("proposals", c10::IValue(proposals_));
    archive.write("last_entropy", c10::IValue(last_entropy_));
    const int64_t n = static_cast<int64_t>(buffer_.size());
    torch::Tensor trials = torch::empty({n}, torch::kInt64);
    torch::Tensor decisions = torch::empty({n, space_.num_decisions()}, torch::kInt64);
    torch::Tensor old_log_probs = torch::empty({n, space_.num_decisions()}, torch::kDouble);
    torch::Tensor rewards = torch::empty({n}, torch::kDouble);
    int64_t* decision_data = decisions.data_ptr<int64_t>();
    double* log_prob_data = old_log_probs.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) {
      trials.data_ptr<int64_t>()[i] = buffer_[i].trial;
      for (int d : buffer_[i].decisions) *decision_data++ = d;
      for (double lp : buffer_[i].old_log_probs) *log_prob_data++ = lp;
      rewards.data_ptr<double>()[i] = buffer_[i].reward;
    }
    archive.write("buffer_trials", trials, true);
    archive.write("buffer_decisions", decisions, true);
    archive.write("buffer_old_log_probs", old_log_probs, true);
    archive.write("buffer_rewards", rewards, true);
    std::string bytes;
    archive.save_to([&bytes](const void* data, size_t size) {
      bytes.append(static_cast<const char*>(data), size);
      return size;
    });
    return bytes;
  }

  absl::Status Restore(const std::string& state) override {
    const std::string what = absl::StrCat(config_.kind(), ": ");
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(state.data(), state.size(), torch::kCPU);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(what, "not a checkpoint of an RL policy (", e.what(), ")"));
    }
    try {
      c10::IValue version, algorithm, identity;
      if (!archive.try_read("version", version) || !archive.try_read("algorithm", algorithm) ||
          !archive.try_read("identity", identity) || !version.isInt() || !algorithm.isString() ||
          !identity.isString()) {
        return absl::InvalidArgumentError(absl::StrCat(what, "not a checkpoint of an RL policy"));
      }
      if (version.toInt() != kCheckpointVersion) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%scheckpoint version %d, this build reads %d", what, version.toInt(), kCheckpointVersion));
      }
      if (ParseKind<v1::Algorithm>(algorithm.toStringRef()) != kind_) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%sa checkpoint of the %s policy, not this one", what, algorithm.toStringRef()));
      }
      if (identity.toStringRef() != Identity()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%sthe checkpoint was made with another configuration or search space: %s, now %s", what,
            identity.toStringRef(), Identity()));
      }
      // Everything is read into fresh objects; the policy changes only when all of it loaded.
      at::Generator scratch = at::detail::createCPUGenerator(0);
      Controller net(num_options_, config_.hidden(), scratch);
      std::unique_ptr<torch::optim::Adam> optimizer = MakeOptimizer(net);
      torch::serialize::InputArchive net_archive, optimizer_archive;
      archive.read("net", net_archive);
      archive.read("optimizer", optimizer_archive);
      net->load(net_archive);
      optimizer->load(optimizer_archive);
      torch::Tensor generator_state, trials, decisions, old_log_probs, rewards;
      archive.read("generator", generator_state, true);
      at::Generator generator = at::detail::createCPUGenerator(0);
      generator.set_state(generator_state);
      c10::IValue baseline, baseline_set, updates, proposals, last_entropy, reward_variance;
      archive.read("baseline", baseline);
      archive.read("baseline_set", baseline_set);
      archive.read("reward_variance", reward_variance);
      archive.read("updates", updates);
      archive.read("proposals", proposals);
      archive.read("last_entropy", last_entropy);
      archive.read("buffer_trials", trials, true);
      archive.read("buffer_decisions", decisions, true);
      archive.read("buffer_old_log_probs", old_log_probs, true);
      archive.read("buffer_rewards", rewards, true);
      const int64_t n = trials.numel();
      const int num_steps = space_.num_decisions();
      if (trials.scalar_type() != torch::kInt64 || decisions.scalar_type() != torch::kInt64 ||
          old_log_probs.scalar_type() != torch::kDouble || rewards.scalar_type() != torch::kDouble ||
          decisions.numel() != n * num_steps || old_log_probs.numel() != n * num_steps || rewards.numel() != n) {
        return absl::InvalidArgumentError(absl::StrCat(what, "the checkpoint's result buffer is malformed"));
      }
      trials = trials.contiguous();
      decisions = decisions.contiguous();
      old_log_probs = old_log_probs.contiguous();
      rewards = rewards.contiguous();
      std::vector<Buffered> buffer;
      for (int64_t i = 0; i < n; ++i) {
        Buffered b;
        b.trial = trials.data_ptr<int64_t>()[i];
        const int64_t* row = decisions.data_ptr<int64_t>() + i * num_steps;
        b.decisions.assign(row, row + num_steps);
        const double* lp = old_log_probs.data_ptr<double>() + i * num_steps;
        b.old_log_probs.assign(lp, lp + num_steps);
        b.reward = rewards.data_ptr<double>()[i];
        if (!ReplayWeights(space_, b.decisions).ok()) {
          return absl::InvalidArgumentError(absl::StrCat(what, "the checkpoint's result buffer holds an invalid sequence"));
        }
        buffer.push_back(std::move(b));
      }
      net_ = net;
      optimizer_ = std::move(optimizer);
      {
        std::lock_guard<std::mutex> lock(generator_.mutex());
        generator_.set_state(generator.get_state());
      }
      baseline_ = baseline.toDouble();
      baseline_set_ = baseline_set.toBool();
      reward_variance_ = reward_variance.toDouble();
      updates_ = updates.toInt();
      proposals_ = proposals.toInt();
      last_entropy_ = last_entropy.toDouble();
      buffer_ = std::move(buffer);
      update_log_.clear();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return StatusFrom(e, absl::StatusCode::kInvalidArgument);
    }
  }

 private:
  std::unique_ptr<torch::optim::Adam> MakeOptimizer(Controller& net) const {
    // Adam's defaults otherwise: betas (0.9, 0.999), eps 1e-8, no weight decay.
    return std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(config_.learning_rate()));
  }

  // What a checkpoint must match: the algorithm, every hyperparameter, and the decision layout.
  std::string Identity() const {
    return absl::StrFormat(
        "kind=%s hidden=%d lr=%.17g entropy_weight=%.17g baseline_decay=%.17g ppo_clip=%.17g ppo_epochs=%d "
        "update_every=%d temperature=%.17g tanh_constant=%.17g clone_steps=%d options=%s",
        config_.kind(), config_.hidden(), config_.learning_rate(), config_.entropy_weight(), config_.baseline_decay(),
        config_.ppo_clip(), config_.ppo_epochs(), config_.update_every(), config_.temperature(),
        config_.tanh_constant(), config_.clone_steps(), absl::StrJoin(num_options_, ","));
  }

  // Internal when the cursor refuses an option the masks allowed (not reachable).
  absl::StatusOr<Proposal> Sample() {
    torch::NoGradGuard no_grad;
    Proposal proposal;
    ss::DecisionCursor cursor(space_);
    auto [h, c] = net_->InitialState(1);
    int64_t token = net_->start_token();
    double entropy_sum = 0;
    for (int t = 0; t < space_.num_decisions(); ++t) {
      std::tie(h, c) = net_->Step(torch::full({1}, token, torch::kInt64), h, c);
      const std::vector<int64_t> weights = cursor.CompletionWeights();
      const auto [mask, log_prior] = PriorTensors({weights});
      const torch::Tensor log_probs = PolicyLogSoftmax(net_->Logits(t, h), log_prior, shape_);
      int option =
          static_cast<int>(torch::multinomial(log_probs.exp(), 1, /*replacement=*/false, generator_).item<int64_t>());
      // Multinomial (argmax of p / Exp(1) draws) picks a masked option only when a draw is
      // exactly 0, about 2^-53 per option; take the mode then.
      if (weights[option] == 0) option = static_cast<int>(log_probs.argmax(1).item<int64_t>());
      RETURN_IF_ERROR(cursor.Choose(option));
      proposal.decisions.push_back(option);
      proposal.log_probs.push_back(log_probs[0][option].item<double>());
      entropy_sum += MaskedEntropy(log_probs, mask).item<double>();
      token = net_->Token(t, option);
    }
    last_entropy_ = space_.num_decisions() > 0 ? entropy_sum / space_.num_decisions() : 0;
    return proposal;
  }

  // Tensors for a teacher-forced pass over `sequences` (valid ones: Observe checked them).
  Batch MakeBatch(const std::vector<Buffered>& sequences) const {
    const int num_steps = space_.num_decisions();
    const int64_t size = static_cast<int64_t>(sequences.size());
    std::vector<std::vector<std::vector<int64_t>>> weights;  // [sequence][step][option]
    for (const Buffered& s : sequences) weights.push_back(ReplayWeights(space_, s.decisions).value());
    Batch batch;
    for (int t = 0; t < num_steps; ++t) {
      torch::Tensor tokens = torch::empty({size}, torch::kInt64);
      torch::Tensor chosen = torch::empty({size, 1}, torch::kInt64);
      int64_t* token_data = tokens.data_ptr<int64_t>();
      int64_t* chosen_data = chosen.data_ptr<int64_t>();
      std::vector<std::vector<int64_t>> rows;
      for (int64_t i = 0; i < size; ++i) {
        token_data[i] = t == 0 ? net_->start_token() : net_->Token(t - 1, sequences[i].decisions[t - 1]);
        chosen_data[i] = sequences[i].decisions[t];
        rows.push_back(weights[i][t]);
      }
      auto [mask, log_prior] = PriorTensors(rows);
      batch.tokens.push_back(tokens);
      batch.masks.push_back(mask);
      batch.log_priors.push_back(log_prior);
      batch.chosen.push_back(chosen);
    }
    return batch;
  }

  // Teacher forcing under the current weights.
  Evaluation Evaluate(const Batch& batch) {
    const int64_t size = batch.chosen.empty() ? 0 : batch.chosen[0].size(0);
    auto [h, c] = net_->InitialState(size);
    std::vector<torch::Tensor> log_probs;
    torch::Tensor entropy = torch::zeros({size}, torch::kDouble);
    for (size_t t = 0; t < batch.tokens.size(); ++t) {
      std::tie(h, c) = net_->Step(batch.tokens[t], h, c);
      const torch::Tensor lp = PolicyLogSoftmax(net_->Logits(static_cast<int>(t), h), batch.log_priors[t], shape_);
      log_probs.push_back(lp.gather(1, batch.chosen[t]));
      entropy = entropy + MaskedEntropy(lp, batch.masks[t]);
    }
    return {log_probs.empty() ? torch::zeros({size, 0}, torch::kDouble) : torch::cat(log_probs, 1), entropy};
  }

  // One update on buffer_. The advantages use the baseline and the reward scale as they stood
  // before this batch: (reward - baseline) / running standard deviation of the rewards, so that
  // the step size does not depend on the objective's units (AP differences between architectures
  // are a few hundredths). Then the baseline and the variance take the batch's rewards one by
  // one, in arrival order (exponential moving averages with baseline_decay).
  //
  // Every decision is an action that shares its sequence's advantage A. REINFORCE maximizes
  // mean_b(A_b sum_t log pi(x_bt)); PPO maximizes mean_b(sum_t min(r_bt A_b, clip(r_bt) A_b))
  // with one ratio per decision, r_bt = pi(x_bt) / pi_old(x_bt), so a small drift per decision
  // does not compound over the 70 into a sequence ratio that always clips. The entropy bonus is
  // on the same scale: entropy_weight x mean_b(sum_t H_bt).
  void Update() {
    if (!baseline_set_) {
      baseline_ = buffer_.front().reward;
      double spread = 0;
      for (const Buffered& b : buffer_) spread += (b.reward - baseline_) * (b.reward - baseline_);
      reward_variance_ = spread / static_cast<double>(buffer_.size());
      baseline_set_ = true;
    }
    const double deviation = std::sqrt(std::max(reward_variance_, kMinRewardVariance));
    std::vector<double> advantages, old_log_probs;
    double reward_sum = 0;
    for (const Buffered& b : buffer_) {
      advantages.push_back((b.reward - baseline_) / deviation);
      old_log_probs.insert(old_log_probs.end(), b.old_log_probs.begin(), b.old_log_probs.end());
      reward_sum += b.reward;
    }
    const double decay = config_.baseline_decay();
    for (const Buffered& b : buffer_) {
      const double d = b.reward - baseline_;
      baseline_ += (1 - decay) * d;
      reward_variance_ = decay * (reward_variance_ + (1 - decay) * d * d);
    }

    const int64_t size = static_cast<int64_t>(buffer_.size());
    const Batch batch = MakeBatch(buffer_);
    const torch::Tensor advantage = torch::tensor(advantages, torch::kDouble).unsqueeze(1);  // [B, 1]
    const torch::Tensor old_log_prob =
        torch::tensor(old_log_probs, torch::kDouble).reshape({size, space_.num_decisions()});  // [B, T]
    const bool ppo = kind_ == v1::ALGORITHM_PPO;
    const int passes = ppo ? config_.ppo_epochs() : 1;
    PolicyUpdate log;
    log.update = updates_ + 1;
    log.results = static_cast<int>(size);
    log.mean_reward = reward_sum / static_cast<double>(size);
    log.advantage_scale = deviation;
    double clipped = 0;
    for (int pass = 0; pass < passes; ++pass) {
      const Evaluation e = Evaluate(batch);
      torch::Tensor objective;
      if (ppo) {
        const torch::Tensor ratio = torch::exp(e.log_probs - old_log_prob);
        const double clip = config_.ppo_clip();
        objective = torch::min(ratio * advantage, torch::clamp(ratio, 1 - clip, 1 + clip) * advantage).sum(1).mean();
        clipped += ((ratio - 1).abs() > clip).to(torch::kDouble).mean().item<double>() / passes;
      } else {
        objective = (advantage * e.log_probs).sum(1).mean();
      }
      const torch::Tensor entropy = e.entropy.mean();
      if (pass == 0) log.entropy = entropy.item<double>();
      const torch::Tensor loss = -objective - config_.entropy_weight() * entropy;
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
    }
    log.entropy_per_decision = space_.num_decisions() > 0 ? log.entropy / space_.num_decisions() : 0;
    log.clipped_fraction = clipped;
    ++updates_;
    update_log_.push_back(log);
  }

  const ss::SearchSpace& space_;
  const v1::AlgorithmConfig config_;
  const v1::Algorithm kind_;  // config_.kind(): ppo or reinforce.
  const LogitShape shape_;
  std::vector<int> num_options_;
  // Initial weights, then every sample. Mutable: Save() locks it to read its state.
  mutable at::Generator generator_;
  Controller net_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  double baseline_ = 0;
  bool baseline_set_ = false;
  double reward_variance_ = 0;
  int64_t updates_ = 0;
  int64_t proposals_ = 0;
  double last_entropy_ = 0;
  std::vector<Buffered> buffer_;
  std::vector<PolicyUpdate> update_log_;  // Since the last TakeUpdates(); not checkpointed.
};

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> NewRlPolicy(const ss::SearchSpace& space, const v1::AlgorithmConfig& config,
                                                    uint64_t seed, const std::vector<std::vector<int>>& seeds) {
  const v1::Algorithm kind = AlgorithmOf(config);
  if (!IsRlAlgorithm(kind)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("algorithm.kind: \"%s\" is not an RL policy (ppo, reinforce)", config.kind()));
  }
  if (config.hidden() < 1) return absl::InvalidArgumentError("algorithm.hidden: must be at least 1");
  if (!(config.learning_rate() > 0)) return absl::InvalidArgumentError("algorithm.learning_rate: must be positive");
  if (config.update_every() < 1) return absl::InvalidArgumentError("algorithm.update_every: must be at least 1");
  if (!(config.baseline_decay() >= 0 && config.baseline_decay() < 1)) {
    return absl::InvalidArgumentError("algorithm.baseline_decay: must be in [0, 1)");
  }
  if (!(config.temperature() >= 0)) {
    return absl::InvalidArgumentError("algorithm.temperature: must be positive (0: none)");
  }
  if (!(config.tanh_constant() >= 0)) {
    return absl::InvalidArgumentError("algorithm.tanh_constant: must be positive (0: no tanh)");
  }
  if (kind == v1::ALGORITHM_PPO) {
    if (config.ppo_epochs() < 1) return absl::InvalidArgumentError("algorithm.ppo_epochs: must be at least 1");
    if (!(config.ppo_clip() > 0)) return absl::InvalidArgumentError("algorithm.ppo_clip: must be positive");
  }
  if (config.clone_steps() < 0) return absl::InvalidArgumentError("algorithm.clone_steps: must not be negative");
  for (size_t i = 0; i < seeds.size(); ++i) {
    if (absl::StatusOr<std::vector<std::vector<int64_t>>> w = ReplayWeights(space, seeds[i]); !w.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("seed %d: %s", i, w.status().message()));
    }
  }
  try {
    auto policy = std::make_unique<RlPolicy>(space, config, seed);
    policy->Clone(seeds, config.clone_steps());
    return std::unique_ptr<Policy>(std::move(policy));
  } catch (const std::exception& e) {
    return StatusFrom(e, absl::StatusCode::kInternal);
  }
}

void RegisterRlPolicy() { SetRlPolicyFactory(NewRlPolicy); }

}  // namespace vertebra::controller
