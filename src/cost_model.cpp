// Cost model of a training round: input checks, the discrete-event simulation
// of SL, SFL and PiPar rounds, the FL round, and the parameter search.
#include "pipar/cost_model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <utility>

#include "pipar/error.hpp"
#include "pipar/link.hpp"

namespace pipar {
namespace {

constexpr double kBitsPerMegabit = 1e6;
constexpr double kBitsPerByte = 8.0;

// A candidate must beat the incumbent by more than this fraction of its time
// to replace it, so that rounding in the sums cannot make the search cycle.
constexpr double kRelativeImprovement = 1e-12;

// Formats a double with the fewest digits that read back as the same value.
std::string number_text(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// ---------------------------------------------------------------------------
// Input checks

void check_time(double value, const std::string& quantity) {
  if (!std::isfinite(value) || value < 0.0) {
    throw InputError("invalid " + quantity + " " + number_text(value) +
                     " s: expected a finite time >= 0");
  }
}

void check_bytes(std::int64_t value, const std::string& quantity) {
  if (value < 0) {
    throw InputError("invalid " + quantity + " " + std::to_string(value) + " bytes: expected >= 0");
  }
}

void check_device(const DeviceProfile& device, std::size_t block_count, const std::string& name) {
  if (device.blocks.size() != block_count) {
    throw InputError(name + " has " + std::to_string(device.blocks.size()) +
                     " block timings but the model has " + std::to_string(block_count) +
                     " blocks; give one timing per block");
  }
  for (std::size_t b = 0; b < block_count; ++b) {
    const std::string block = name + " block " + std::to_string(b + 1);
    check_time(device.blocks[b].forward_s_per_sample, block + " forward time per sample");
    check_time(device.blocks[b].backward_s_per_sample, block + " backward time per sample");
    check_time(device.blocks[b].step_s, block + " optimizer step time");
  }
  check_time(device.call_overhead_s, name + " call overhead");
}

void check_link(const LinkProfile& link, const std::string& name) {
  for (const auto& [mbps, direction] :
       {std::pair{link.uplink_mbps, "uplink"}, std::pair{link.downlink_mbps, "downlink"}}) {
    if (std::isnan(mbps) || mbps < 0.0) {
      throw InputError("invalid " + name + " " + direction + " bandwidth " + number_text(mbps) +
                       " Mbit/s: expected a value >= 0 (0 or infinity: unlimited)");
    }
  }
  check_time(link.latency_s, name + " latency");
}

void check_config(const CostModelConfig& config) {
  const std::size_t block_count = config.blocks.size();
  if (block_count < 2) {
    throw InputError("the model has " + std::to_string(block_count) +
                     " blocks; a cut point needs at least 2 blocks");
  }
  for (std::size_t b = 0; b < block_count; ++b) {
    const std::string block = "block " + std::to_string(b + 1);
    check_bytes(config.blocks[b].output_bytes_per_sample, block + " output size per sample");
    check_bytes(config.blocks[b].state_bytes, block + " state size");
  }
  check_bytes(config.label_bytes_per_sample, "label size per sample");
  check_bytes(config.message_header_bytes, "message header size");
  if (config.batch_size < 1) {
    throw InputError("invalid batch size " + std::to_string(config.batch_size) +
                     ": expected at least 1 sample");
  }
  if (config.local_epochs < 1) {
    throw InputError("invalid number of local epochs " + std::to_string(config.local_epochs) +
                     ": expected at least 1");
  }
  check_time(config.aggregation_s, "aggregation time");
  check_device(config.server, block_count, "the server");
  if (config.clients.empty()) {
    throw InputError("the cost model has no clients; give at least one client profile");
  }
  for (std::size_t k = 0; k < config.clients.size(); ++k) {
    const std::string name = "client " + std::to_string(k + 1);
    const ClientProfile& client = config.clients[k];
    check_device(client.device, block_count, name);
    check_link(client.link, name);
    if (client.samples < 1) {
      throw InputError("invalid sample count " + std::to_string(client.samples) + " of " + name +
                       ": expected at least 1 sample");
    }
  }
}

void check_choice(const SplitChoice& choice, std::size_t block_count, int batch_size,
                  const std::string& name) {
  const int last_cut = static_cast<int>(block_count) - 1;
  if (choice.cut < 1 || choice.cut > last_cut) {
    throw InputError("invalid cut point " + std::to_string(choice.cut) + " for " + name +
                     ": expected 1.." + std::to_string(last_cut) + " for a model of " +
                     std::to_string(block_count) + " blocks");
  }
  if (choice.micro_batches < 1) {
    throw InputError("invalid number of micro-batches " + std::to_string(choice.micro_batches) +
                     " for " + name + ": expected at least 1");
  }
  if (batch_size % choice.micro_batches != 0) {
    throw InputError(std::to_string(choice.micro_batches) + " micro-batches for " + name +
                     " do not divide the batch size " + std::to_string(batch_size) +
                     "; choose a divisor of " + std::to_string(batch_size));
  }
}

void check_choices(const CostModelConfig& config, const std::vector<SplitChoice>& choices) {
  if (choices.size() != config.clients.size()) {
    throw InputError("got " + std::to_string(choices.size()) + " (P, N) choices for " +
                     std::to_string(config.clients.size()) + " clients; give one per client");
  }
  for (std::size_t k = 0; k < choices.size(); ++k) {
    check_choice(choices[k], config.blocks.size(), config.batch_size,
                 "client " + std::to_string(k + 1));
  }
}

// ---------------------------------------------------------------------------
// Stage costs

// Cumulative block costs of one device, so that the cost of blocks 1..P or
// P+1..L is one subtraction. Index p holds the sum over blocks 1..p.
struct DeviceCosts {
  std::vector<double> forward_s_per_sample;
  std::vector<double> backward_s_per_sample;
  std::vector<double> step_s;
  double call_overhead_s = 0.0;

  explicit DeviceCosts(const DeviceProfile& device)
      : forward_s_per_sample(device.blocks.size() + 1, 0.0),
        backward_s_per_sample(device.blocks.size() + 1, 0.0),
        step_s(device.blocks.size() + 1, 0.0),
        call_overhead_s(device.call_overhead_s) {
    for (std::size_t b = 0; b < device.blocks.size(); ++b) {
      forward_s_per_sample[b + 1] = forward_s_per_sample[b] + device.blocks[b].forward_s_per_sample;
      backward_s_per_sample[b + 1] =
          backward_s_per_sample[b] + device.blocks[b].backward_s_per_sample;
      step_s[b + 1] = step_s[b] + device.blocks[b].step_s;
    }
  }

  // Blocks first+1..last, on `samples` samples.
  double forward_s(int first, int last, std::int64_t samples) const {
    return (last - first) * call_overhead_s +
           static_cast<double>(samples) *
               (forward_s_per_sample[last] - forward_s_per_sample[first]);
  }
  double backward_s(int first, int last, std::int64_t samples) const {
    return (last - first) * call_overhead_s +
           static_cast<double>(samples) *
               (backward_s_per_sample[last] - backward_s_per_sample[first]);
  }
  double step_time_s(int first, int last) const { return step_s[last] - step_s[first]; }
};

// Everything about a config that does not depend on the choice of P and N,
// computed once per search.
struct CostTables {
  const CostModelConfig& config;
  int block_count;
  DeviceCosts server;
  std::vector<DeviceCosts> clients;
  std::vector<std::int64_t> state_bytes;  // index p: the state of blocks 1..p

  explicit CostTables(const CostModelConfig& checked)
      : config(checked),
        block_count(static_cast<int>(checked.blocks.size())),
        server(checked.server),
        state_bytes(checked.blocks.size() + 1, 0) {
    for (const ClientProfile& client : checked.clients) clients.emplace_back(client.device);
    for (std::size_t b = 0; b < checked.blocks.size(); ++b) {
      state_bytes[b + 1] = state_bytes[b] + checked.blocks[b].state_bytes;
    }
  }

  int client_count() const { return static_cast<int>(clients.size()); }

  std::int64_t batches_per_epoch(int client) const {
    const std::int64_t samples = config.clients[static_cast<std::size_t>(client - 1)].samples;
    return (samples + config.batch_size - 1) / config.batch_size;
  }

  // Samples in batch `batch` (counted across epochs): batch_size, except the
  // last batch of each epoch, which takes the rest of the shard.
  std::int64_t batch_samples(int client, std::int64_t batch) const {
    const std::int64_t per_epoch = batches_per_epoch(client);
    const std::int64_t samples = config.clients[static_cast<std::size_t>(client - 1)].samples;
    if (batch % per_epoch != per_epoch - 1) return config.batch_size;
    return samples - (per_epoch - 1) * config.batch_size;
  }

  // Transmission time of `bytes` on a link of `mbps`, where 0 and infinity
  // are unlimited.
  static double transfer_s(std::int64_t bytes, double mbps) {
    if (mbps == 0.0 || std::isinf(mbps)) return 0.0;
    return static_cast<double>(bytes) * kBitsPerByte / (mbps * kBitsPerMegabit);
  }
};

// The sizes of a batch's micro-batches, as torch::tensor_split makes them:
// the first samples % count micro-batches take one sample more.
std::int64_t micro_batch_samples(std::int64_t samples, int count, int index) {
  const std::int64_t base = samples / count;
  return base + (index < samples % count ? 1 : 0);
}

// Busy time per resource and, on request, the stages of a round.
class RoundRecorder {
 public:
  RoundRecorder(int clients, bool record_schedule)
      : clients_(clients), record_schedule_(record_schedule) {
    prediction_.busy_s.assign(static_cast<std::size_t>(1 + 3 * clients), 0.0);
  }

  void occupy(Resource resource, int client, EventKind kind, std::int64_t batch, int micro_batch,
              double start_s, double end_s) {
    prediction_.busy_s[resource_index(resource, client, clients_)] += end_s - start_s;
    if (!record_schedule_) return;
    Event event;
    event.resource = resource;
    event.client = client;
    event.kind = kind;
    event.round = 0;
    event.batch = static_cast<std::int32_t>(batch);
    event.micro_batch = micro_batch;
    event.start = start_s;
    event.end = end_s;
    prediction_.schedule.push_back(event);
  }

  // Ends the round at `round_s` and returns the prediction.
  RoundPrediction finish(double round_s) {
    prediction_.round_s = round_s;
    prediction_.lower_bound_s =
        *std::max_element(prediction_.busy_s.begin(), prediction_.busy_s.end());
    return std::move(prediction_);
  }

 private:
  int clients_;
  bool record_schedule_;
  RoundPrediction prediction_;
};

// ---------------------------------------------------------------------------
// Round simulation of SL, SFL and PiPar

// A discrete-event simulation of one split-training round. Every stage
// occupies its resource from start to end, and each resource runs one stage
// at a time. Events at the same time are handled in the order they were
// scheduled, which makes the result deterministic.
//
// Only the shared server needs events in time order, because a client's
// stages depend on nothing but its own earlier stages and the server. So a
// client's forwards, its backwards and its messages are placed as soon as
// their inputs are known, which may be ahead of the simulation's clock. The
// exception is an upload in half duplex, which waits for its post time,
// because gradients posted before it take the shared channel first.
class SplitRoundSimulation {
 public:
  enum class Mode { kParallel, kSequential };

  SplitRoundSimulation(const CostTables& tables, const std::vector<SplitChoice>& choices, Mode mode,
                       bool record_schedule);
  // Simulates the round. Stops early and returns a round time of infinity
  // once the clock reaches `cutoff_s`, because the round cannot end sooner.
  RoundPrediction run(double cutoff_s = std::numeric_limits<double>::infinity());

 private:
  enum class Action : std::uint8_t {
    kUploadPosted,   // a forward has ended; scheduled in half duplex only
    kUploadArrived,  // activations and labels are at the server
    kServerDone,     // the server's backward of a micro-batch has ended
    kServerFree,     // the server's optimizer step has ended
    kModelArrived,   // a client's model is at the server
  };

  struct Pending {
    double time_s;
    std::uint64_t order;
    Action action;
    int client;
    int micro_batch;
    bool operator>(const Pending& other) const {
      return time_s != other.time_s ? time_s > other.time_s : order > other.order;
    }
  };

  struct ClientState {
    SplitChoice choice;
    std::int64_t batch = 0;
    std::int64_t batch_count = 0;
    std::int64_t batch_samples = 0;
    int micro_batch_count = 0;
    int backwards_done = 0;
    int served = 0;  // micro-batches of the current batch that the server has finished
    double compute_free_s = 0.0;
    // When each channel is free again: [0] uplink and [1] downlink, but half
    // duplex uses [0] for both directions.
    double channel_free_s[2] = {0.0, 0.0};
    // Uploads on their way to the server, (arrival time, micro-batch) in
    // arrival order from index next_arrival on. Only the first of them is
    // in the event queue, which keeps the queue short.
    std::vector<std::pair<double, int>> arrivals;
    std::size_t next_arrival = 0;
  };

  void schedule(double time_s, Action action, int client, int micro_batch = -1);
  void handle(const Pending& event);
  void post_client_part(int client, double time_s);
  void start_batch(int client, double time_s);
  void post_upload(int client, int micro_batch, double time_s);
  void serve_next(double time_s);
  void finish_micro_batch(int client, int micro_batch, double time_s);
  void run_backward(int client, int micro_batch, double arrival_s);
  double transmit(int client, Direction direction, double post_s, std::int64_t bytes,
                  std::int64_t batch, int micro_batch);

  ClientState& state_of(int client) { return states_[static_cast<std::size_t>(client - 1)]; }
  std::int64_t micro_samples(const ClientState& state, int micro_batch) const {
    return micro_batch_samples(state.batch_samples, state.micro_batch_count, micro_batch);
  }
  std::int64_t activation_bytes(const ClientState& state, int micro_batch) const {
    return micro_samples(state, micro_batch) *
           tables_.config.blocks[static_cast<std::size_t>(state.choice.cut - 1)]
               .output_bytes_per_sample;
  }
  std::int64_t client_part_bytes(const ClientState& state) const {
    return tables_.config.message_header_bytes +
           tables_.state_bytes[static_cast<std::size_t>(state.choice.cut)];
  }

  const CostTables& tables_;
  Mode mode_;
  std::vector<ClientState> states_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> queue_;
  std::uint64_t next_order_ = 0;
  std::deque<std::pair<int, int>> server_queue_;  // (client, micro-batch) in arrival order
  bool server_busy_ = false;
  double server_free_s_ = 0.0;
  double last_model_arrival_s_ = 0.0;
  RoundRecorder recorder_;
};

SplitRoundSimulation::SplitRoundSimulation(const CostTables& tables,
                                           const std::vector<SplitChoice>& choices, Mode mode,
                                           bool record_schedule)
    : tables_(tables),
      mode_(mode),
      states_(choices.size()),
      recorder_(tables.client_count(), record_schedule) {
  for (std::size_t k = 0; k < choices.size(); ++k) {
    states_[k].choice = choices[k];
    states_[k].batch_count =
        tables.batches_per_epoch(static_cast<int>(k + 1)) * tables.config.local_epochs;
  }
}

RoundPrediction SplitRoundSimulation::run(double cutoff_s) {
  // In parallel mode the server sends every client its part at once. In
  // sequential mode the next client gets it when the previous one returns it.
  if (mode_ == Mode::kParallel) {
    for (int client = 1; client <= tables_.client_count(); ++client) post_client_part(client, 0.0);
  } else {
    post_client_part(1, 0.0);
  }
  while (!queue_.empty()) {
    const Pending event = queue_.top();
    queue_.pop();
    if (event.time_s >= cutoff_s) return recorder_.finish(std::numeric_limits<double>::infinity());
    handle(event);
  }

  if (mode_ == Mode::kSequential) return recorder_.finish(last_model_arrival_s_);
  const double start_s = std::max(last_model_arrival_s_, server_free_s_);
  const double end_s = start_s + tables_.config.aggregation_s;
  recorder_.occupy(Resource::kServerCompute, 0, EventKind::kAggregate, -1, -1, start_s, end_s);
  return recorder_.finish(end_s);
}

void SplitRoundSimulation::schedule(double time_s, Action action, int client, int micro_batch) {
  queue_.push(Pending{time_s, next_order_++, action, client, micro_batch});
}

void SplitRoundSimulation::handle(const Pending& event) {
  switch (event.action) {
    case Action::kUploadPosted:
      post_upload(event.client, event.micro_batch, event.time_s);
      break;
    case Action::kUploadArrived: {
      ClientState& state = state_of(event.client);
      if (++state.next_arrival < state.arrivals.size()) {
        const auto [arrival_s, micro_batch] = state.arrivals[state.next_arrival];
        schedule(arrival_s, Action::kUploadArrived, event.client, micro_batch);
      } else {
        state.arrivals.clear();
        state.next_arrival = 0;
      }
      server_queue_.emplace_back(event.client, event.micro_batch);
      serve_next(event.time_s);
      break;
    }
    case Action::kServerDone:
      finish_micro_batch(event.client, event.micro_batch, event.time_s);
      break;
    case Action::kServerFree:
      server_busy_ = false;
      serve_next(event.time_s);
      break;
    case Action::kModelArrived:
      last_model_arrival_s_ = std::max(last_model_arrival_s_, event.time_s);
      if (mode_ == Mode::kSequential && event.client < tables_.client_count()) {
        post_client_part(event.client + 1, event.time_s);
      }
      break;
  }
}

void SplitRoundSimulation::post_client_part(int client, double time_s) {
  const std::int64_t bytes = client_part_bytes(state_of(client));
  const double arrival_s = transmit(client, Direction::kDownlink, time_s, bytes, -1, -1);
  start_batch(client, arrival_s);
}

// Runs the forwards of all micro-batches of the client's current batch back
// to back from `time_s`, posting each upload as its forward ends.
void SplitRoundSimulation::start_batch(int client, double time_s) {
  ClientState& state = state_of(client);
  state.batch_samples = tables_.batch_samples(client, state.batch);
  state.micro_batch_count =
      static_cast<int>(std::min<std::int64_t>(state.choice.micro_batches, state.batch_samples));
  state.backwards_done = 0;
  state.served = 0;
  state.compute_free_s = std::max(state.compute_free_s, time_s);

  const DeviceCosts& device = tables_.clients[static_cast<std::size_t>(client - 1)];
  for (int i = 0; i < state.micro_batch_count; ++i) {
    const double start_s = state.compute_free_s;
    const double end_s = start_s + device.forward_s(0, state.choice.cut, micro_samples(state, i));
    recorder_.occupy(Resource::kClientCompute, client, EventKind::kForward, state.batch, i, start_s,
                     end_s);
    state.compute_free_s = end_s;
    if (tables_.config.half_duplex) {
      schedule(end_s, Action::kUploadPosted, client, i);
    } else {
      post_upload(client, i, end_s);
    }
  }
}

void SplitRoundSimulation::post_upload(int client, int micro_batch, double time_s) {
  ClientState& state = state_of(client);
  const std::int64_t bytes =
      tables_.config.message_header_bytes + activation_bytes(state, micro_batch) +
      micro_samples(state, micro_batch) * tables_.config.label_bytes_per_sample;
  const double arrival_s =
      transmit(client, Direction::kUplink, time_s, bytes, state.batch, micro_batch);
  // A link delivers in order, so arrival times never decrease.
  state.arrivals.emplace_back(arrival_s, micro_batch);
  if (state.arrivals.size() - state.next_arrival == 1) {
    schedule(arrival_s, Action::kUploadArrived, client, micro_batch);
  }
}

// Starts the forward, loss and backward of the micro-batch that arrived
// first, if the server is idle.
void SplitRoundSimulation::serve_next(double time_s) {
  if (server_busy_ || server_queue_.empty()) return;
  const auto [client, micro_batch] = server_queue_.front();
  server_queue_.pop_front();
  const ClientState& state = state_of(client);
  const std::int64_t samples = micro_samples(state, micro_batch);
  const int cut = state.choice.cut;

  const double forward_end_s = time_s + tables_.server.forward_s(cut, tables_.block_count, samples);
  const double backward_end_s =
      forward_end_s + tables_.server.backward_s(cut, tables_.block_count, samples);
  recorder_.occupy(Resource::kServerCompute, client, EventKind::kForward, state.batch, micro_batch,
                   time_s, forward_end_s);
  recorder_.occupy(Resource::kServerCompute, client, EventKind::kBackward, state.batch, micro_batch,
                   forward_end_s, backward_end_s);
  server_busy_ = true;
  server_free_s_ = backward_end_s;
  schedule(backward_end_s, Action::kServerDone, client, micro_batch);
}

// Posts the gradient at once. After the client's last micro-batch of the
// batch the server steps that client's server part and serves nothing else
// meanwhile.
void SplitRoundSimulation::finish_micro_batch(int client, int micro_batch, double time_s) {
  ClientState& state = state_of(client);
  const std::int64_t bytes =
      tables_.config.message_header_bytes + activation_bytes(state, micro_batch);
  const double arrival_s =
      transmit(client, Direction::kDownlink, time_s, bytes, state.batch, micro_batch);
  // The server finishes a client's micro-batches in order, so this is the
  // gradient's place in the client's arrival order.
  const bool last = ++state.served == state.micro_batch_count;
  const std::int64_t batch = state.batch;
  run_backward(client, micro_batch, arrival_s);

  if (!last) {
    server_busy_ = false;
    serve_next(time_s);
    return;
  }
  const double step_end_s =
      time_s + tables_.server.step_time_s(state.choice.cut, tables_.block_count);
  recorder_.occupy(Resource::kServerCompute, client, EventKind::kStep, batch, -1, time_s,
                   step_end_s);
  server_free_s_ = step_end_s;
  schedule(step_end_s, Action::kServerFree, client);
}

// Runs a backward once both its gradient and the client's processor are
// there. After the last one the client steps and then starts its next batch
// or returns its model.
void SplitRoundSimulation::run_backward(int client, int micro_batch, double arrival_s) {
  ClientState& state = state_of(client);
  const DeviceCosts& device = tables_.clients[static_cast<std::size_t>(client - 1)];
  const double start_s = std::max(arrival_s, state.compute_free_s);
  const double end_s =
      start_s + device.backward_s(0, state.choice.cut, micro_samples(state, micro_batch));
  recorder_.occupy(Resource::kClientCompute, client, EventKind::kBackward, state.batch, micro_batch,
                   start_s, end_s);
  state.compute_free_s = end_s;
  if (++state.backwards_done < state.micro_batch_count) return;

  const double step_end_s = end_s + device.step_time_s(0, state.choice.cut);
  recorder_.occupy(Resource::kClientCompute, client, EventKind::kStep, state.batch, -1, end_s,
                   step_end_s);
  state.compute_free_s = step_end_s;
  if (++state.batch < state.batch_count) {
    start_batch(client, step_end_s);
    return;
  }
  const double model_arrival_s =
      transmit(client, Direction::kUplink, step_end_s, client_part_bytes(state), -1, -1);
  schedule(model_arrival_s, Action::kModelArrived, client);
}

// Places a message on the client's link after the messages posted before it
// in the same channel, like NetworkEmulator::transmit, and returns its
// arrival time.
double SplitRoundSimulation::transmit(int client, Direction direction, double post_s,
                                      std::int64_t bytes, std::int64_t batch, int micro_batch) {
  ClientState& state = state_of(client);
  const LinkProfile& link = tables_.config.clients[static_cast<std::size_t>(client - 1)].link;
  const bool uplink = direction == Direction::kUplink;
  double& channel_free_s = state.channel_free_s[tables_.config.half_duplex || uplink ? 0 : 1];

  const double start_s = std::max(post_s, channel_free_s);
  const double end_s =
      start_s + CostTables::transfer_s(bytes, uplink ? link.uplink_mbps : link.downlink_mbps);
  channel_free_s = end_s;
  recorder_.occupy(uplink ? Resource::kUplink : Resource::kDownlink, client,
                   uplink ? EventKind::kUpload : EventKind::kDownload, batch, micro_batch, start_s,
                   end_s);
  return end_s + link.latency_s;
}

// ---------------------------------------------------------------------------
// Parameter search

std::vector<SplitChoice> candidate_grid(const CostModelConfig& config, const SearchBounds& bounds) {
  const int last_cut = static_cast<int>(config.blocks.size()) - 1;
  const int max_cut = bounds.max_cut == 0 ? last_cut : bounds.max_cut;
  if (bounds.min_cut < 1 || bounds.min_cut > last_cut) {
    throw InputError("invalid minimum cut point " + std::to_string(bounds.min_cut) +
                     ": expected 1.." + std::to_string(last_cut) + " for a model of " +
                     std::to_string(config.blocks.size()) + " blocks");
  }
  if (max_cut < 1 || max_cut > last_cut) {
    throw InputError("invalid maximum cut point " + std::to_string(max_cut) + ": expected 1.." +
                     std::to_string(last_cut) + " for a model of " +
                     std::to_string(config.blocks.size()) + " blocks, or 0 for " +
                     std::to_string(last_cut));
  }
  if (bounds.min_cut > max_cut) {
    throw InputError("empty cut point range " + std::to_string(bounds.min_cut) + ".." +
                     std::to_string(max_cut) + "; the minimum must not exceed the maximum");
  }
  if (bounds.micro_batches.empty()) {
    throw InputError(
        "no candidate numbers of micro-batches; give at least one divisor of the batch size " +
        std::to_string(config.batch_size));
  }

  std::vector<int> micro_batches;
  for (int count : bounds.micro_batches) {
    if (count < 1) {
      throw InputError("invalid candidate number of micro-batches " + std::to_string(count) +
                       ": expected at least 1");
    }
    if (config.batch_size % count == 0) micro_batches.push_back(count);
  }
  if (micro_batches.empty()) {
    throw InputError("no candidate number of micro-batches divides the batch size " +
                     std::to_string(config.batch_size) + "; add a divisor of " +
                     std::to_string(config.batch_size));
  }
  std::sort(micro_batches.begin(), micro_batches.end());
  micro_batches.erase(std::unique(micro_batches.begin(), micro_batches.end()), micro_batches.end());

  std::vector<SplitChoice> grid;
  for (int cut = bounds.min_cut; cut <= max_cut; ++cut) {
    for (int count : micro_batches) grid.push_back(SplitChoice{cut, count});
  }
  return grid;
}

// Returns the time a candidate must stay below to replace an incumbent of
// `incumbent_s`.
double improvement_cutoff(double incumbent_s) {
  return incumbent_s - kRelativeImprovement * std::abs(incumbent_s);
}

// Lower bounds on the round time of an assignment of grid choices to clients.
// A round takes at least the server's total work, and at least as long as
// each client's round alone with an idle server. The second bound is valid
// in full duplex because every stage starts at the latest end of the stages
// it waits for, so other clients can only delay a client's stages. In half
// duplex a delayed gradient can let an upload take the channel earlier, so
// there the bound of a client is its busiest resource instead.
class RoundBounds {
 public:
  RoundBounds(const CostModelConfig& config, const std::vector<SplitChoice>& grid)
      : aggregation_s_(config.aggregation_s) {
    const int client_count = static_cast<int>(config.clients.size());
    for (int client = 1; client <= client_count; ++client) {
      CostModelConfig alone = config;
      alone.clients = {config.clients[static_cast<std::size_t>(client - 1)]};
      const CostTables tables(alone);
      std::vector<double> client_s;
      std::vector<double> server_s;
      for (const SplitChoice& choice : grid) {
        const RoundPrediction prediction =
            SplitRoundSimulation(tables, {choice}, SplitRoundSimulation::Mode::kParallel, false)
                .run();
        const std::vector<double>& busy_s = prediction.busy_s;  // server, compute, uplink, downlink
        client_s.push_back(config.half_duplex ? std::max(busy_s[1], busy_s[2] + busy_s[3])
                                              : prediction.round_s);
        server_s.push_back(busy_s[0] - config.aggregation_s);
      }
      client_s_.push_back(std::move(client_s));
      server_s_.push_back(std::move(server_s));
    }
  }

  // `assignment[k - 1]` is client k's index into the grid.
  double bound(const std::vector<std::size_t>& assignment) const {
    double client_s = 0.0;
    double server_s = aggregation_s_;
    for (std::size_t k = 0; k < assignment.size(); ++k) {
      client_s = std::max(client_s, client_s_[k][assignment[k]]);
      server_s += server_s_[k][assignment[k]];
    }
    return std::max(client_s, server_s);
  }

 private:
  double aggregation_s_;
  std::vector<std::vector<double>> client_s_;  // [client - 1][grid index]
  std::vector<std::vector<double>> server_s_;  // server work for the client, same indices
};

// The search behind select_parameters(). Candidates whose lower bound, or
// whose simulation so far, shows that they cannot beat the incumbent are
// dropped, which leaves the result the same as simulating them fully.
class ParameterSearch {
 public:
  ParameterSearch(const CostModelConfig& config, const SearchBounds& bounds)
      : bounds_(bounds),
        grid_(candidate_grid(config, bounds)),
        tables_(config),
        lower_bounds_(config, grid_) {}

  ParameterSelection run() {
    rank_common_choices();
    // With one client the common grid already contains every choice.
    if (tables_.client_count() > 1) {
      while (selection_.passes < bounds_.max_passes) {
        ++selection_.passes;
        if (!improve_each_client() && !move_cut_pairs()) break;
      }
    }
    for (std::size_t index : assignment_) selection_.choices.push_back(grid_[index]);
    selection_.round_s = round_s_;
    return std::move(selection_);
  }

 private:
  // Returns the round time of `assignment`, or infinity once it is clear
  // that the round cannot end before `cutoff_s`.
  double evaluate(const std::vector<std::size_t>& assignment, double cutoff_s) {
    if (lower_bounds_.bound(assignment) >= cutoff_s) {
      ++selection_.candidates_pruned;
      return std::numeric_limits<double>::infinity();
    }
    ++selection_.candidates_evaluated;
    std::vector<SplitChoice> choices;
    for (std::size_t index : assignment) choices.push_back(grid_[index]);
    return SplitRoundSimulation(tables_, choices, SplitRoundSimulation::Mode::kParallel, false)
        .run(cutoff_s)
        .round_s;
  }

  // Finds the fastest common choices. Ties keep grid order, so a later
  // candidate must be strictly faster to rank above an earlier one.
  void rank_common_choices() {
    const std::size_t ranked_count = std::max<std::size_t>(bounds_.top_count, 1);
    std::vector<std::pair<double, std::size_t>> top;  // (round time, grid index), fastest first
    const std::size_t client_count = static_cast<std::size_t>(tables_.client_count());
    for (std::size_t index = 0; index < grid_.size(); ++index) {
      const double cutoff_s =
          top.size() < ranked_count ? std::numeric_limits<double>::infinity() : top.back().first;
      const double round_s = evaluate(std::vector<std::size_t>(client_count, index), cutoff_s);
      if (!(round_s < cutoff_s)) continue;
      const auto position =
          std::upper_bound(top.begin(), top.end(), round_s,
                           [](double time_s, const std::pair<double, std::size_t>& entry) {
                             return time_s < entry.first;
                           });
      top.insert(position, {round_s, index});
      if (top.size() > ranked_count) top.pop_back();
    }
    assignment_.assign(client_count, top.front().second);
    round_s_ = top.front().first;
    for (std::size_t i = 0; i < std::min(top.size(), bounds_.top_count); ++i) {
      selection_.top_common.push_back(CandidateTime{grid_[top[i].second], top[i].first});
    }
  }

  // Gives each client in turn the grid choice that shortens the round most
  // while the other clients keep theirs. Returns whether any choice changed.
  bool improve_each_client() {
    bool changed = false;
    for (std::size_t k = 0; k < assignment_.size(); ++k) {
      std::vector<std::size_t> trial = assignment_;
      std::size_t best_index = assignment_[k];
      double best_s = round_s_;
      for (std::size_t index = 0; index < grid_.size(); ++index) {
        if (index == assignment_[k]) continue;
        trial[k] = index;
        const double cutoff_s = improvement_cutoff(best_s);
        const double round_s = evaluate(trial, cutoff_s);
        if (round_s < cutoff_s) {
          best_index = index;
          best_s = round_s;
        }
      }
      if (best_index != assignment_[k]) {
        assignment_[k] = best_index;
        round_s_ = best_s;
        changed = true;
      }
    }
    return changed;
  }

  // Moves the cut points of two clients by one block each, keeping their N,
  // and applies the move that shortens the round most. Such a move can shift
  // work between clients through the shared server where no single client's
  // change helps. Returns whether a move was applied.
  bool move_cut_pairs() {
    std::vector<std::size_t> best = assignment_;
    double best_s = round_s_;
    for (std::size_t a = 0; a < assignment_.size(); ++a) {
      for (std::size_t b = a + 1; b < assignment_.size(); ++b) {
        for (const auto& [shift_a, shift_b] :
             {std::pair{-1, 1}, std::pair{1, -1}, std::pair{-1, -1}, std::pair{1, 1}}) {
          std::vector<std::size_t> trial = assignment_;
          if (!shift_cut(trial[a], shift_a) || !shift_cut(trial[b], shift_b)) continue;
          const double cutoff_s = improvement_cutoff(best_s);
          const double round_s = evaluate(trial, cutoff_s);
          if (round_s < cutoff_s) {
            best = trial;
            best_s = round_s;
          }
        }
      }
    }
    if (best == assignment_) return false;
    assignment_ = best;
    round_s_ = best_s;
    return true;
  }

  // Replaces `index` by the grid index of the same N and the cut point moved
  // by `shift`. Returns false, leaving `index` as it is, when that cut point
  // is outside the grid.
  bool shift_cut(std::size_t& index, int shift) const {
    const SplitChoice moved{grid_[index].cut + shift, grid_[index].micro_batches};
    const auto found = std::find(grid_.begin(), grid_.end(), moved);
    if (found == grid_.end()) return false;
    index = static_cast<std::size_t>(found - grid_.begin());
    return true;
  }

  const SearchBounds& bounds_;
  std::vector<SplitChoice> grid_;
  CostTables tables_;
  RoundBounds lower_bounds_;
  std::vector<std::size_t> assignment_;  // grid index per client
  double round_s_ = 0.0;
  ParameterSelection selection_;
};

}  // namespace

bool operator==(const SplitChoice& a, const SplitChoice& b) {
  return a.cut == b.cut && a.micro_batches == b.micro_batches;
}

bool operator!=(const SplitChoice& a, const SplitChoice& b) { return !(a == b); }

RoundPrediction predict_round(const CostModelConfig& config,
                              const std::vector<SplitChoice>& choices, bool record_schedule) {
  check_config(config);
  check_choices(config, choices);
  const CostTables tables(config);
  return SplitRoundSimulation(tables, choices, SplitRoundSimulation::Mode::kParallel,
                              record_schedule)
      .run();
}

RoundPrediction predict_sl_round(const CostModelConfig& config, int cut, bool record_schedule) {
  check_config(config);
  const std::vector<SplitChoice> choices(config.clients.size(), SplitChoice{cut, 1});
  check_choices(config, choices);
  const CostTables tables(config);
  return SplitRoundSimulation(tables, choices, SplitRoundSimulation::Mode::kSequential,
                              record_schedule)
      .run();
}

// Each client's link carries one message per direction, so no message
// queues. The server computes nothing but FedAvg.
RoundPrediction predict_fl_round(const CostModelConfig& config, bool record_schedule) {
  check_config(config);
  const CostTables tables(config);
  const int block_count = tables.block_count;
  const std::int64_t model_bytes =
      config.message_header_bytes + tables.state_bytes[static_cast<std::size_t>(block_count)];
  RoundRecorder recorder(tables.client_count(), record_schedule);
  double last_arrival_s = 0.0;

  for (int client = 1; client <= tables.client_count(); ++client) {
    const LinkProfile& link = config.clients[static_cast<std::size_t>(client - 1)].link;
    const DeviceCosts& device = tables.clients[static_cast<std::size_t>(client - 1)];
    const double download_end_s = CostTables::transfer_s(model_bytes, link.downlink_mbps);
    recorder.occupy(Resource::kDownlink, client, EventKind::kDownload, -1, -1, 0.0, download_end_s);

    double time_s = download_end_s + link.latency_s;
    const std::int64_t batch_count = tables.batches_per_epoch(client) * config.local_epochs;
    for (std::int64_t batch = 0; batch < batch_count; ++batch) {
      const std::int64_t samples = tables.batch_samples(client, batch);
      const double forward_end_s = time_s + device.forward_s(0, block_count, samples);
      const double backward_end_s = forward_end_s + device.backward_s(0, block_count, samples);
      const double step_end_s = backward_end_s + device.step_time_s(0, block_count);
      recorder.occupy(Resource::kClientCompute, client, EventKind::kForward, batch, -1, time_s,
                      forward_end_s);
      recorder.occupy(Resource::kClientCompute, client, EventKind::kBackward, batch, -1,
                      forward_end_s, backward_end_s);
      recorder.occupy(Resource::kClientCompute, client, EventKind::kStep, batch, -1, backward_end_s,
                      step_end_s);
      time_s = step_end_s;
    }

    const double upload_end_s = time_s + CostTables::transfer_s(model_bytes, link.uplink_mbps);
    recorder.occupy(Resource::kUplink, client, EventKind::kUpload, -1, -1, time_s, upload_end_s);
    last_arrival_s = std::max(last_arrival_s, upload_end_s + link.latency_s);
  }

  const double aggregation_end_s = last_arrival_s + config.aggregation_s;
  recorder.occupy(Resource::kServerCompute, 0, EventKind::kAggregate, -1, -1, last_arrival_s,
                  aggregation_end_s);
  return recorder.finish(aggregation_end_s);
}

ParameterSelection select_parameters(const CostModelConfig& config, const SearchBounds& bounds) {
  check_config(config);
  if (bounds.max_passes < 0) {
    throw InputError("invalid number of search passes " + std::to_string(bounds.max_passes) +
                     ": expected at least 0");
  }
  return ParameterSearch(config, bounds).run();
}

}  // namespace pipar
