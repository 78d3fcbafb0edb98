// Roles of the training schemes and what they share.
//
// Every scheme runs in rounds. At the start of round r the server sends each
// client the model state to train from (kGlobalModel). The client trains on
// its shard and returns its state (kClientModel). The server aggregates and
// leaves the result in the global model, which it then evaluates. Call order on
// every rank, for r = 0, 1, ...: the server calls ServerRole::train_round(r),
// each client ClientRole::train_round(r). Each rank owns one Transport.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <thread>
#include <memory>

#include "pipar/augment.hpp"
#include "pipar/clock.hpp"
#include "pipar/dataset.hpp"
#include "pipar/events.hpp"
#include "pipar/fedavg.hpp"
#include "pipar/stage_time.hpp"
#include "pipar/transport.hpp"

namespace pipar {

struct TrainingConfig {
  int cut = 2;
  int micro_batches = 4;  // 1 for every scheme but PiPar
  int batch_size = 100;
  int local_epochs = 1;
  double learning_rate = 0.01;
  double momentum = 0.9;
  std::uint64_t seed = 1;
  int clients = 1;
  Augmentation augmentation;  // of each client batch; disabled by default
  // Per-client cut points and micro-batch counts, indexed by client - 1,
  // such as an automated selection's choice; empty: `cut` and
  // `micro_batches` for every client.
  std::vector<int> client_cuts;
  std::vector<int> client_micro_batches;

  int cut_of(int client) const {
    return client_cuts.empty() ? cut : client_cuts.at(static_cast<std::size_t>(client - 1));
  }
  int micro_batches_of(int client) const {
    return client_micro_batches.empty()
               ? micro_batches
               : client_micro_batches.at(static_cast<std::size_t>(client - 1));
  }
};

// The optimizer-state policy of every scheme, stored in each results file.
constexpr const char* kOptimizerStatePolicy =
    "SGD momentum buffers start from zero at the start of every local training pass, on the "
    "client and on the server side: every round for FL, SFL and PiPar, every client's turn "
    "for SL, because the weights they were built for have been replaced";

// The transport, event log, clock and device emulation of one role.
struct RoleContext {
  Transport& transport;
  EventLog& events;
  Clock clock;
  // Device emulation: each compute stage of this rank takes `slowdown` times
  // its CPU time divided by `threads` (1: no emulation). The rank sleeps for
  // the extra time, so it spends no CPU while it waits.
  double slowdown = 1.0;
  int threads = 1;
};

// CPU time of this process in seconds, over all its threads.
double process_cpu_seconds();

// CPU time of this process in seconds without its transport's progress
// thread: the compute that device emulation stretches.
inline double compute_cpu_seconds(const Transport& transport) {
  return process_cpu_seconds() - transport.progress_thread_cpu_seconds();
}

// Runs `work` and records it as `event`, stretched to the emulated duration
// when the context emulates a slower device.
template <typename Work>
void run_timed(const RoleContext& context, Event event, Work&& work) {
  event.start = context.clock.now();
  const bool emulated = context.slowdown > 1.0;
  const double cpu_start = emulated ? compute_cpu_seconds(context.transport) : 0.0;
  work();
  if (emulated) {
    const StageRun run{context.clock.now() - event.start,
                       compute_cpu_seconds(context.transport) - cpu_start};
    const double remaining = emulated_seconds(run, context.slowdown, context.threads) - run.wall_s;
    if (remaining > 0.0) std::this_thread::sleep_for(std::chrono::duration<double>(remaining));
  }
  event.end = context.clock.now();
  context.events.add(event);
}

// Sends the events this rank recorded since the last call to the server, as
// one control message of round `round`.
void send_events(const RoleContext& context, int client, int round);

std::unique_ptr<torch::optim::SGD> make_optimizer(torch::nn::Module& module,
                                                  const TrainingConfig& config);

// Calls `train_batch(batch, indices)` for each batch of one round. Each local
// epoch passes over 0..samples-1 in batches of batch_size (the last one may
// be smaller), in an order seeded by the run's seed, the round, the epoch and
// the client. `batch` counts from 0 across the round's epochs.
void for_each_batch(std::int64_t samples, const TrainingConfig& config, int round, int client,
                    const std::function<void(int, const torch::Tensor&)>& train_batch);

// Returns the images of batch `batch` (see for_each_batch): the rows
// `indices` of the shard, cropped and flipped when config.augmentation is
// enabled, with draws seeded by the run's seed, the round, the batch and the
// client.
torch::Tensor batch_images(const TensorData& shard, const torch::Tensor& indices,
                           const TrainingConfig& config, int round, int batch, int client);

// Receives the state to start round `round` from (kGlobalModel) and loads it
// into `module`. Throws ProtocolError for any other message.
void receive_global_model(Transport& transport, int round, torch::nn::Module& module);

class ClientRole {
 public:
  virtual ~ClientRole() = default;
  virtual void train_round(int round) = 0;
};

struct ServerRoundStats {
  double train_loss = 0.0;   // mean cross-entropy over the round's training samples
  std::int64_t samples = 0;  // training samples of the round, over all clients
};

class ServerRole {
 public:
  virtual ~ServerRole() = default;
  // Runs round `round` and leaves the aggregated model in the global model.
  virtual ServerRoundStats train_round(int round) = 0;
};

}  // namespace pipar
