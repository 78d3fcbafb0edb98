// Tests of the APS cost model. Round times of PiPar, SFL, SL and FL are
// checked against schedules worked out by hand. Further tests cover the busy
// time of each resource, the order of stages on a client, message sizes and
// latency, the parameter search, and each input the model rejects.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "pipar/cost_model.hpp"
#include "pipar/error.hpp"
#include "pipar/events.hpp"

// Lets GoogleTest print a choice in failure messages.
namespace pipar {
void PrintTo(const SplitChoice& choice, std::ostream* out) {
  *out << "(P=" << choice.cut << ", N=" << choice.micro_batches << ")";
}
}  // namespace pipar

namespace {

using pipar::BlockSize;
using pipar::BlockTiming;
using pipar::ClientProfile;
using pipar::CostModelConfig;
using pipar::DeviceProfile;
using pipar::Event;
using pipar::EventKind;
using pipar::LinkProfile;
using pipar::ParameterSelection;
using pipar::Resource;
using pipar::RoundPrediction;
using pipar::SearchBounds;
using pipar::SplitChoice;

// Expected times below are a few operations on doubles, so a result may
// differ from them only by rounding, far below 1 ns.
constexpr double kToleranceS = 1e-9;

// A model of `block_count` blocks that each output `output_bytes` bytes per
// sample and have no state, one batch of 10 samples, no message headers, and
// an idle server.
CostModelConfig make_config(int block_count, std::int64_t output_bytes) {
  CostModelConfig config;
  config.blocks.assign(static_cast<std::size_t>(block_count), BlockSize{output_bytes, 0});
  config.batch_size = 10;
  config.server.blocks.assign(static_cast<std::size_t>(block_count), BlockTiming{});
  return config;
}

// A device whose every block takes the same time per sample.
DeviceProfile uniform_device(int block_count, double forward_s, double backward_s,
                             double call_overhead_s = 0.0) {
  DeviceProfile device;
  device.blocks.assign(static_cast<std::size_t>(block_count),
                       BlockTiming{forward_s, backward_s, 0.0});
  device.call_overhead_s = call_overhead_s;
  return device;
}

// A two-block device: block 1 is what a client with P = 1 runs, block 2
// what the server runs.
DeviceProfile two_block_device(BlockTiming first, BlockTiming second) {
  DeviceProfile device;
  device.blocks = {first, second};
  return device;
}

ClientProfile make_client(DeviceProfile device, LinkProfile link, std::int64_t samples) {
  ClientProfile client;
  client.device = std::move(device);
  client.link = link;
  client.samples = samples;
  return client;
}

std::size_t index_of(Resource resource, int client, int clients) {
  return pipar::resource_index(resource, client, clients);
}

// Returns the one scheduled stage that matches, or fails the test.
Event find_stage(const RoundPrediction& prediction, Resource resource, int client, EventKind kind,
                 int batch, int micro_batch) {
  std::vector<Event> found;
  for (const Event& event : prediction.schedule) {
    if (event.resource == resource && event.client == client && event.kind == kind &&
        event.batch == batch && event.micro_batch == micro_batch) {
      found.push_back(event);
    }
  }
  EXPECT_EQ(found.size(), 1u) << pipar::to_string(kind) << " of client " << client << ", batch "
                              << batch << ", micro-batch " << micro_batch;
  return found.empty() ? Event{} : found.front();
}

// Returns the stages of one resource, in order of start time.
std::vector<Event> stages_on(const RoundPrediction& prediction, Resource resource, int client) {
  std::vector<Event> stages;
  for (const Event& event : prediction.schedule) {
    if (event.resource == resource && event.client == client) stages.push_back(event);
  }
  std::stable_sort(stages.begin(), stages.end(),
                   [](const Event& a, const Event& b) { return a.start < b.start; });
  return stages;
}

// Returns the message of the InputError that `call` throws, or an empty
// string if it throws none.
std::string input_error(const std::function<void()>& call) {
  try {
    call();
  } catch (const pipar::InputError& error) {
    return error.what();
  }
  return "";
}

double round_time(const CostModelConfig& config, int clients, SplitChoice choice) {
  return pipar::predict_round(config,
                              std::vector<SplitChoice>(static_cast<std::size_t>(clients), choice))
      .round_s;
}

// ---------------------------------------------------------------------------
// Bottlenecks

// One client, P = 1, 3 batches of B = 10. Per sample: client forward
// f = 2 ms and backward b = 4 ms, server work s = 1 ms, upload u = 100,008
// bytes (activations and an int64 label) at 8 Mbit/s = 100.008 ms, download
// d = 100,000 bytes at 800 Mbit/s = 1 ms. Uploads of a batch run back to back
// after the first forward, and every other stage of a micro-batch of
// m = B/N samples fits within one upload, so a batch takes
// B*u + m*(f + s + d + b) = 1.00008 s + 0.08 s / N: the upload time plus the
// fill and drain of the pipeline.
TEST(CostModelRound, LinkBoundIsUploadTime) {
  CostModelConfig config = make_config(2, 100'000);
  config.server = two_block_device({}, {0.0004, 0.0006, 0.0});
  config.clients = {make_client(two_block_device({0.002, 0.004, 0.0}, {}), {8.0, 800.0, 0.0}, 30)};

  const double upload_total_s = 30 * 0.100008;
  for (int count : {1, 2, 5, 10}) {
    SCOPED_TRACE("N = " + std::to_string(count));
    const RoundPrediction prediction = pipar::predict_round(config, {{1, count}});
    EXPECT_NEAR(prediction.round_s, 3 * (1.00008 + 0.08 / count), kToleranceS);

    const double uplink_busy_s = prediction.busy_s[index_of(Resource::kUplink, 1, 1)];
    EXPECT_NEAR(uplink_busy_s, upload_total_s, kToleranceS);
    EXPECT_DOUBLE_EQ(prediction.lower_bound_s, uplink_busy_s);
    EXPECT_GE(prediction.round_s, prediction.lower_bound_s);
  }
  // Pipelining hides only the fill and drain: 6.7% of the round here.
  const double sequential_s = round_time(config, 1, {1, 1});
  const double pipelined_s = round_time(config, 1, {1, 10});
  EXPECT_LT(pipelined_s, sequential_s);
  EXPECT_LT(sequential_s - pipelined_s, 0.1 * sequential_s);
}

// One client, P = 1, 2 batches of B = 10, unlimited links. Per sample:
// forward 10 ms, backward 20 ms, each block call 1 ms more; the server takes
// 0.02 ms. With N >= 2 every gradient is back before the forwards end, so the
// client never waits: a batch takes 0.3 s + 2*N*1 ms, all client compute.
// With N = 1 the client waits 10 * 0.02 ms for the server once per batch.
TEST(CostModelRound, ClientBoundIsClientCompute) {
  CostModelConfig config = make_config(2, 4'000);
  config.server = two_block_device({}, {1e-5, 1e-5, 0.0});
  DeviceProfile client = two_block_device({0.01, 0.02, 0.0}, {});
  client.call_overhead_s = 0.001;
  config.clients = {make_client(client, {}, 20)};

  const RoundPrediction sequential = pipar::predict_round(config, {{1, 1}});
  EXPECT_NEAR(sequential.round_s, 2 * (0.101 + 10 * 2e-5 + 0.201), kToleranceS);
  EXPECT_NEAR(sequential.busy_s[index_of(Resource::kClientCompute, 1, 1)], 0.604, kToleranceS);

  for (int count : {2, 5, 10}) {
    SCOPED_TRACE("N = " + std::to_string(count));
    const RoundPrediction prediction = pipar::predict_round(config, {{1, count}});
    const double expected_s = 2 * (0.3 + 2 * count * 0.001);
    EXPECT_NEAR(prediction.round_s, expected_s, kToleranceS);
    EXPECT_NEAR(prediction.busy_s[index_of(Resource::kClientCompute, 1, 1)], expected_s,
                kToleranceS);
    EXPECT_DOUBLE_EQ(prediction.lower_bound_s,
                     prediction.busy_s[index_of(Resource::kClientCompute, 1, 1)]);
    // N barely matters, and more calls only cost overhead.
    EXPECT_LT(prediction.round_s - sequential.round_s, 0.06 * sequential.round_s);
  }

  SearchBounds bounds;
  bounds.micro_batches = {1, 2, 5, 10};
  const ParameterSelection selection = pipar::select_parameters(config, bounds);
  EXPECT_EQ(selection.choices.front(), (SplitChoice{1, 1}));
}

// 8 clients, P = 1, 2 batches of B = 10 each, unlimited links. Per sample:
// client forward 0.1 ms, backward 0.2 ms, server 10 ms. The server has 1.6 s
// of work and, once the first micro-batches arrive, always has a queue: each
// client sends its next batch within a few ms of its last gradient, while
// the server works on 7 other clients' micro-batches. So the round is the
// first forward, the server's work, and the last backward, of m = B/N
// samples each.
TEST(CostModelRound, ServerBoundIsServerWork) {
  CostModelConfig config = make_config(2, 4'000);
  config.server = two_block_device({}, {0.004, 0.006, 0.0});
  for (int k = 0; k < 8; ++k) {
    config.clients.push_back(make_client(two_block_device({1e-4, 2e-4, 0.0}, {}), {}, 20));
  }

  for (int count : {1, 5}) {
    SCOPED_TRACE("N = " + std::to_string(count));
    const RoundPrediction prediction =
        pipar::predict_round(config, std::vector<SplitChoice>(8, {1, count}));
    const double samples = 10.0 / count;
    const double server_busy_s = prediction.busy_s[index_of(Resource::kServerCompute, 0, 8)];
    EXPECT_NEAR(server_busy_s, 8 * 20 * 0.01, kToleranceS);
    EXPECT_DOUBLE_EQ(prediction.lower_bound_s, server_busy_s);
    EXPECT_NEAR(prediction.round_s, samples * 1e-4 + 1.6 + samples * 2e-4, kToleranceS);
  }
}

// One client and one batch of B = 4 samples, P = 1, where the client's
// forward, the upload, the server's forward and backward, the download and
// the client's backward each take T = 1 s per batch, so t = T/N per
// micro-batch. Micro-batch i (1-based) ends its forward at i*t, its upload at
// (i+1)*t, its server work at (i+2)*t and its download at (i+3)*t. Its
// backward starts then or when the client is free, whichever is later.
// N = 1: 5t = 5 s, the sum of the stages.
// N = 2: forwards end at 2t; backwards at 4t..5t and 5t..6t: 6t = 3 s.
// N = 4: forwards end at 4t; backwards run back to back from 4t: 8t = 2 s,
// the client's forward and backward time, which is the bottleneck.
TEST(CostModelSchedule, ClassicPipelineMatchesHandSchedule) {
  CostModelConfig config = make_config(2, 31'250);  // 250,000 bits: 0.25 s per sample at 1 Mbit/s
  config.label_bytes_per_sample = 0;                // so that u = d
  config.batch_size = 4;
  config.server = two_block_device({}, {0.125, 0.125, 0.0});
  config.clients = {make_client(two_block_device({0.25, 0.25, 0.0}, {}), {1.0, 1.0, 0.0}, 4)};

  EXPECT_NEAR(round_time(config, 1, {1, 1}), 5.0, kToleranceS);
  EXPECT_NEAR(round_time(config, 1, {1, 2}), 3.0, kToleranceS);
  EXPECT_NEAR(round_time(config, 1, {1, 4}), 2.0, kToleranceS);

  // Every stage of N = 2, with t = 0.5 s.
  const RoundPrediction prediction = pipar::predict_round(config, {{1, 2}}, true);
  struct Expected {
    Resource resource;
    int client;
    EventKind kind;
    int micro_batch;
    double start_s;
    double end_s;
  };
  const std::vector<Expected> expected = {
      {Resource::kClientCompute, 1, EventKind::kForward, 0, 0.0, 0.5},
      {Resource::kClientCompute, 1, EventKind::kForward, 1, 0.5, 1.0},
      {Resource::kUplink, 1, EventKind::kUpload, 0, 0.5, 1.0},
      {Resource::kUplink, 1, EventKind::kUpload, 1, 1.0, 1.5},
      {Resource::kServerCompute, 1, EventKind::kForward, 0, 1.0, 1.25},
      {Resource::kServerCompute, 1, EventKind::kBackward, 0, 1.25, 1.5},
      {Resource::kServerCompute, 1, EventKind::kForward, 1, 1.5, 1.75},
      {Resource::kServerCompute, 1, EventKind::kBackward, 1, 1.75, 2.0},
      {Resource::kDownlink, 1, EventKind::kDownload, 0, 1.5, 2.0},
      {Resource::kDownlink, 1, EventKind::kDownload, 1, 2.0, 2.5},
      {Resource::kClientCompute, 1, EventKind::kBackward, 0, 2.0, 2.5},
      {Resource::kClientCompute, 1, EventKind::kBackward, 1, 2.5, 3.0},
  };
  for (const Expected& stage : expected) {
    SCOPED_TRACE(std::string(pipar::to_string(stage.kind)) + " of micro-batch " +
                 std::to_string(stage.micro_batch) + " on resource " +
                 std::to_string(static_cast<int>(stage.resource)));
    const Event event =
        find_stage(prediction, stage.resource, stage.client, stage.kind, 0, stage.micro_batch);
    EXPECT_NEAR(event.start, stage.start_s, kToleranceS);
    EXPECT_NEAR(event.end, stage.end_s, kToleranceS);
  }
}

// One client, P = 1, N = 2, two batches of B = 2, unlimited links. Per
// sample: client forward and backward 0.1 s, server forward and backward
// 0.05 s; optimizer steps: client 0.3 s, server 0.6 s; FedAvg 0.25 s.
// Batch 0: forwards 0..0.2; server 0.1..0.2 and 0.2..0.3, then its step
// 0.3..0.9; backwards 0.2..0.4; client step 0.4..0.7. Batch 1: forwards
// 0.7..0.9; the server, still stepping, serves 0.9..1.0 and 1.0..1.1 and
// steps 1.1..1.7; backwards 1.0..1.2; client step 1.2..1.5. The client's
// model arrives at 1.5, but FedAvg waits for the server: 1.7..1.95.
TEST(CostModelSchedule, StepsFollowLastMicroBatch) {
  CostModelConfig config = make_config(2, 1'000);
  config.batch_size = 2;
  config.aggregation_s = 0.25;
  config.server = two_block_device({}, {0.05, 0.05, 0.6});
  config.clients = {make_client(two_block_device({0.1, 0.1, 0.3}, {}), {}, 4)};

  const RoundPrediction prediction = pipar::predict_round(config, {{1, 2}}, true);
  EXPECT_NEAR(prediction.round_s, 1.95, kToleranceS);

  const Event server_step =
      find_stage(prediction, Resource::kServerCompute, 1, EventKind::kStep, 0, -1);
  EXPECT_NEAR(server_step.start, 0.3, kToleranceS);
  EXPECT_NEAR(server_step.end, 0.9, kToleranceS);
  const Event client_step =
      find_stage(prediction, Resource::kClientCompute, 1, EventKind::kStep, 0, -1);
  EXPECT_NEAR(client_step.start, 0.4, kToleranceS);
  EXPECT_NEAR(client_step.end, 0.7, kToleranceS);

  // The next batch's forwards use the stepped weights, so they wait for the
  // client's step; the server's forward waits for the server's step.
  const Event next_forward =
      find_stage(prediction, Resource::kClientCompute, 1, EventKind::kForward, 1, 0);
  EXPECT_NEAR(next_forward.start, client_step.end, kToleranceS);
  const Event next_server =
      find_stage(prediction, Resource::kServerCompute, 1, EventKind::kForward, 1, 0);
  EXPECT_NEAR(next_server.start, server_step.end, kToleranceS);

  const Event aggregation =
      find_stage(prediction, Resource::kServerCompute, 0, EventKind::kAggregate, -1, -1);
  EXPECT_NEAR(aggregation.start, 1.7, kToleranceS);
  EXPECT_NEAR(aggregation.end, 1.95, kToleranceS);
  EXPECT_NEAR(prediction.busy_s[index_of(Resource::kServerCompute, 0, 1)], 4 * 0.1 + 2 * 0.6 + 0.25,
              kToleranceS);
  EXPECT_NEAR(prediction.busy_s[index_of(Resource::kClientCompute, 1, 1)], 8 * 0.1 + 2 * 0.3,
              kToleranceS);
}

// Two clients whose gradients come back while they still run forwards (N = 5,
// a fast server and fast links). Every resource's stages must be disjoint,
// so the busy time of each resource equals the union of its stages that
// analyze_round() measures, and a batch's backwards come after its forwards.
TEST(CostModelSchedule, ClientForwardAndBackwardNeverOverlap) {
  CostModelConfig config = make_config(3, 2'000);
  config.server = uniform_device(3, 1e-4, 1e-4);
  config.clients = {make_client(uniform_device(3, 0.01, 0.02), {100.0, 100.0, 0.001}, 30),
                    make_client(uniform_device(3, 0.02, 0.01), {50.0, 200.0, 0.002}, 20)};

  const RoundPrediction prediction = pipar::predict_round(config, {{2, 5}, {1, 5}}, true);
  const pipar::RoundAnalysis analysis =
      pipar::analyze_round(prediction.schedule, 2, 0.0, prediction.round_s);
  ASSERT_EQ(analysis.busy_s.size(), prediction.busy_s.size());
  for (std::size_t r = 0; r < prediction.busy_s.size(); ++r) {
    EXPECT_NEAR(analysis.busy_s[r], prediction.busy_s[r], kToleranceS) << "resource " << r;
  }

  for (int client = 1; client <= 2; ++client) {
    SCOPED_TRACE("client " + std::to_string(client));
    const std::vector<Event> stages = stages_on(prediction, Resource::kClientCompute, client);
    double compute_s = 0.0;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      compute_s += stages[i].end - stages[i].start;
      if (i == 0) continue;
      EXPECT_GE(stages[i].start, stages[i - 1].end - kToleranceS) << "stage " << i;
      if (stages[i].kind == EventKind::kForward && stages[i].batch == stages[i - 1].batch) {
        EXPECT_EQ(stages[i - 1].kind, EventKind::kForward)
            << "a forward after a backward, stage " << i;
      }
    }
    EXPECT_NEAR(compute_s, prediction.busy_s[index_of(Resource::kClientCompute, client, 2)],
                kToleranceS);
    // Some gradient arrives before the forwards of its batch end, so the
    // order above is the policy at work, not an accident of timing.
    const Event gradient =
        find_stage(prediction, Resource::kDownlink, client, EventKind::kDownload, 0, 0);
    const Event last_forward =
        find_stage(prediction, Resource::kClientCompute, client, EventKind::kForward, 0, 4);
    EXPECT_LT(gradient.end, last_forward.end);
  }
}

// B = 12 and 30 samples give batches of 12, 12 and 6. With N = 4 the last
// batch splits like torch::tensor_split into 2, 2, 1 and 1 samples; with
// N = 12 its 6 samples give 6 micro-batches of one sample.
TEST(CostModelSchedule, PartialBatchSplitsLikeTensorSplit) {
  CostModelConfig config = make_config(2, 1'000);
  config.batch_size = 12;
  config.clients = {make_client(two_block_device({1.0, 1.0, 0.0}, {}), {}, 30)};

  const RoundPrediction four = pipar::predict_round(config, {{1, 4}}, true);
  const std::vector<double> expected_s = {2.0, 2.0, 1.0, 1.0};
  for (int i = 0; i < 4; ++i) {
    const Event first = find_stage(four, Resource::kClientCompute, 1, EventKind::kForward, 0, i);
    EXPECT_NEAR(first.end - first.start, 3.0, kToleranceS) << "micro-batch " << i;
    const Event last = find_stage(four, Resource::kClientCompute, 1, EventKind::kForward, 2, i);
    EXPECT_NEAR(last.end - last.start, expected_s[static_cast<std::size_t>(i)], kToleranceS)
        << "micro-batch " << i;
  }
  EXPECT_NEAR(four.busy_s[index_of(Resource::kClientCompute, 1, 1)], 2 * 30.0, kToleranceS);

  const RoundPrediction twelve = pipar::predict_round(config, {{1, 12}}, true);
  int last_batch_forwards = 0;
  for (const Event& event : twelve.schedule) {
    if (event.kind == EventKind::kForward && event.resource == Resource::kClientCompute &&
        event.batch == 2) {
      ++last_batch_forwards;
      EXPECT_NEAR(event.end - event.start, 1.0, kToleranceS);
    }
  }
  EXPECT_EQ(last_batch_forwards, 6);
}

// ---------------------------------------------------------------------------
// Messages

// With N = 1 every message is on the critical path: the client part's
// download, then per batch an upload and a download, then the model's
// upload. Two batches give 6 one-way latencies; busy times do not change.
TEST(CostModelMessages, LatencyAddsToEveryMessage) {
  CostModelConfig config = make_config(2, 1'000);
  config.server = two_block_device({}, {0.001, 0.001, 0.0});
  config.clients = {make_client(two_block_device({0.002, 0.003, 0.0}, {}), {10.0, 10.0, 0.0}, 20)};
  const RoundPrediction without = pipar::predict_round(config, {{1, 1}});

  config.clients[0].link.latency_s = 0.05;
  const RoundPrediction with = pipar::predict_round(config, {{1, 1}});
  EXPECT_NEAR(with.round_s - without.round_s, 6 * 0.05, kToleranceS);
  for (std::size_t r = 0; r < with.busy_s.size(); ++r) {
    EXPECT_NEAR(with.busy_s[r], without.busy_s[r], kToleranceS) << "resource " << r;
  }
}

// VGG-5's first block outputs 32x14x14 float32 values per sample: 25,088
// bytes at 4 bytes per element. With B = 100 and N = 4, a micro-batch of 25
// samples uploads 25 * (25,088 + 8) bytes = 5,019,200 bits, 0.50192 s at
// 10 Mbit/s, and downloads 25 * 25,088 bytes = 5,017,600 bits, 0.200704 s at
// 25 Mbit/s. A header of 500 bytes adds 0.4 ms up and 0.16 ms down.
TEST(CostModelMessages, SizesCountFourBytesPerFloat) {
  CostModelConfig config = make_config(2, 4 * 32 * 14 * 14);
  config.batch_size = 100;
  config.blocks[0].state_bytes = 1'500;
  config.clients = {make_client(uniform_device(2, 0.0, 0.0), {10.0, 25.0, 0.0}, 100)};

  const RoundPrediction plain = pipar::predict_round(config, {{1, 4}}, true);
  const Event upload = find_stage(plain, Resource::kUplink, 1, EventKind::kUpload, 0, 0);
  const Event download = find_stage(plain, Resource::kDownlink, 1, EventKind::kDownload, 0, 0);
  EXPECT_NEAR(upload.end - upload.start, 0.50192, kToleranceS);
  EXPECT_NEAR(download.end - download.start, 0.200704, kToleranceS);
  // The client part (block 1, 1,500 bytes) goes down at round start and up
  // at the end.
  const Event part_down = find_stage(plain, Resource::kDownlink, 1, EventKind::kDownload, -1, -1);
  const Event part_up = find_stage(plain, Resource::kUplink, 1, EventKind::kUpload, -1, -1);
  EXPECT_NEAR(part_down.end - part_down.start, 1'500 * 8 / 25e6, kToleranceS);
  EXPECT_NEAR(part_up.end - part_up.start, 1'500 * 8 / 10e6, kToleranceS);

  config.message_header_bytes = 500;
  const RoundPrediction with_header = pipar::predict_round(config, {{1, 4}}, true);
  const Event header_upload =
      find_stage(with_header, Resource::kUplink, 1, EventKind::kUpload, 0, 0);
  const Event header_download =
      find_stage(with_header, Resource::kDownlink, 1, EventKind::kDownload, 0, 0);
  EXPECT_NEAR(header_upload.end - header_upload.start, 0.50192 + 0.0004, kToleranceS);
  EXPECT_NEAR(header_download.end - header_download.start, 0.200704 + 0.00016, kToleranceS);
}

// One batch of 2 samples, N = 2, P = 1; per sample the client's forward and
// backward take 1 s, the server 0.5 s, and each message 1 s (1 Mbit at
// 1 Mbit/s). Full duplex: uploads 1..2 and 2..3, server 2..2.5 and 3..3.5,
// downloads 2.5..3.5 and 3.5..4.5, backwards 3.5..4.5 and 4.5..5.5.
// Half duplex: the second upload, posted at 2, occupies the channel until 3, so
// the first gradient, posted at 2.5, goes 3..4 and the second 4..5;
// backwards 4..5 and 5..6.
TEST(CostModelMessages, HalfDuplexSharesOneChannel) {
  CostModelConfig config = make_config(2, 125'000);
  config.label_bytes_per_sample = 0;
  config.batch_size = 2;
  config.server = two_block_device({}, {0.25, 0.25, 0.0});
  config.clients = {make_client(two_block_device({1.0, 1.0, 0.0}, {}), {1.0, 1.0, 0.0}, 2)};

  EXPECT_NEAR(round_time(config, 1, {1, 2}), 5.5, kToleranceS);
  config.half_duplex = true;
  const RoundPrediction prediction = pipar::predict_round(config, {{1, 2}}, true);
  EXPECT_NEAR(prediction.round_s, 6.0, kToleranceS);

  std::vector<Event> messages = stages_on(prediction, Resource::kUplink, 1);
  const std::vector<Event> downloads = stages_on(prediction, Resource::kDownlink, 1);
  messages.insert(messages.end(), downloads.begin(), downloads.end());
  std::sort(messages.begin(), messages.end(),
            [](const Event& a, const Event& b) { return a.start < b.start; });
  for (std::size_t i = 1; i < messages.size(); ++i) {
    EXPECT_GE(messages[i].start, messages[i - 1].end - kToleranceS) << "message " << i;
  }
  const Event first_gradient =
      find_stage(prediction, Resource::kDownlink, 1, EventKind::kDownload, 0, 0);
  EXPECT_NEAR(first_gradient.start, 3.0, kToleranceS);
}

// ---------------------------------------------------------------------------
// Baselines

// SL runs the clients one after another, each exactly as it would run alone
// with N = 1; SFL runs them at once.
TEST(CostModelBaselines, SlClientsTakeTurns) {
  CostModelConfig alone = make_config(2, 1'000);
  alone.blocks[0].state_bytes = 10'000;
  alone.server = two_block_device({}, {0.001, 0.002, 0.0});
  alone.clients = {make_client(two_block_device({0.002, 0.004, 0.0}, {}), {10.0, 20.0, 0.01}, 30)};
  const double single_s = round_time(alone, 1, {1, 1});

  CostModelConfig pair = alone;
  pair.clients.push_back(pair.clients.front());
  const RoundPrediction sl = pipar::predict_sl_round(pair, 1, true);
  EXPECT_NEAR(sl.round_s, 2 * single_s, kToleranceS);
  const Event second_part = find_stage(sl, Resource::kDownlink, 2, EventKind::kDownload, -1, -1);
  const Event first_model = find_stage(sl, Resource::kUplink, 1, EventKind::kUpload, -1, -1);
  EXPECT_NEAR(second_part.start, first_model.end + 0.01, kToleranceS);

  EXPECT_LT(round_time(pair, 2, {1, 1}), sl.round_s);
}

// Two clients train the whole model: 2,500,000 bytes of state, 2 s down at
// 10 Mbit/s and 4 s up at 5 Mbit/s, 10 ms latency each way. Client 1 takes
// 6 ms per sample over both blocks and 20 ms of steps per batch, so 0.8 s
// for 100 samples. Client 2 computes twice as slowly and takes 1.4 s. FedAvg
// takes 0.5 s after the slower client's model arrives.
TEST(CostModelBaselines, FlRoundWaitsForSlowestClient) {
  CostModelConfig config = make_config(2, 1'000);
  config.blocks[0].state_bytes = 1'000'000;
  config.blocks[1].state_bytes = 1'500'000;
  config.aggregation_s = 0.5;
  DeviceProfile fast = uniform_device(2, 0.001, 0.002);
  for (BlockTiming& block : fast.blocks) block.step_s = 0.01;
  DeviceProfile slow = uniform_device(2, 0.002, 0.004);
  for (BlockTiming& block : slow.blocks) block.step_s = 0.01;
  config.clients = {make_client(fast, {5.0, 10.0, 0.01}, 100),
                    make_client(slow, {5.0, 10.0, 0.01}, 100)};

  const RoundPrediction prediction = pipar::predict_fl_round(config);
  EXPECT_NEAR(prediction.round_s, 2.0 + 0.01 + 1.4 + 4.0 + 0.01 + 0.5, kToleranceS);
  EXPECT_NEAR(prediction.busy_s[index_of(Resource::kClientCompute, 1, 2)], 0.8, kToleranceS);
  EXPECT_NEAR(prediction.busy_s[index_of(Resource::kClientCompute, 2, 2)], 1.4, kToleranceS);
  EXPECT_NEAR(prediction.busy_s[index_of(Resource::kServerCompute, 0, 2)], 0.5, kToleranceS);
}

// ---------------------------------------------------------------------------
// Parameter search

// Two clients, five equal blocks, unlimited links. Over a round of 100
// samples one block's forward and backward take 0.2 s on the server and the
// fast client and 0.6 s on the slow one. The round takes at least
// max(0.6 P_slow, 0.2 P_fast, 0.2 (10 - P_slow - P_fast)), the busy times of
// the slow client, the fast client and the server. That is 1.0 s for
// P_slow = 1 and P_fast = 4 and at least 1.2 s for any other pair, common
// ones included, so the slow client must keep fewer blocks.
TEST(CostModelSearch, SlowClientGetsSmallerCut) {
  CostModelConfig config = make_config(5, 1'000);
  config.server = uniform_device(5, 0.001, 0.001);
  config.clients = {make_client(uniform_device(5, 0.001, 0.001), {}, 100),
                    make_client(uniform_device(5, 0.003, 0.003), {}, 100)};
  SearchBounds bounds;
  bounds.micro_batches = {1, 2, 5, 10};

  const ParameterSelection selection = pipar::select_parameters(config, bounds);
  ASSERT_EQ(selection.choices.size(), 2u);
  EXPECT_EQ(selection.choices[0].cut, 4);
  EXPECT_EQ(selection.choices[1].cut, 1);
  EXPECT_GE(selection.round_s, 1.0);
  EXPECT_LT(selection.round_s, 1.2);
  ASSERT_FALSE(selection.top_common.empty());
  EXPECT_LT(selection.round_s, selection.top_common.front().round_s);
  EXPECT_NEAR(pipar::predict_round(config, selection.choices).round_s, selection.round_s,
              kToleranceS);
}

// Four clients of different speeds on a 5-block model with shrinking
// activations, 10 batches of 100 samples each, edge links.
CostModelConfig make_edge_config() {
  CostModelConfig config = make_config(5, 0);
  const std::vector<std::int64_t> output_bytes = {25'088, 12'544, 4'096, 2'048, 40};
  for (std::size_t b = 0; b < output_bytes.size(); ++b) {
    config.blocks[b] = BlockSize{output_bytes[b], 100'000};
  }
  config.batch_size = 100;
  config.aggregation_s = 0.05;
  config.server = uniform_device(5, 2e-5, 4e-5, 1e-4);
  for (int k = 1; k <= 4; ++k) {
    config.clients.push_back(
        make_client(uniform_device(5, 2e-4 * k, 4e-4 * k, 1e-4), {10.0, 25.0, 0.005}, 1'000));
  }
  return config;
}

TEST(CostModelSearch, BeatsEveryCommonChoiceAndRepeats) {
  const CostModelConfig config = make_edge_config();
  SearchBounds bounds;
  bounds.micro_batches = {1, 2, 4, 5, 10, 20, 25, 50, 100};

  const auto start = std::chrono::steady_clock::now();
  const ParameterSelection selection = pipar::select_parameters(config, bounds);
  const double search_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Recorded, not asserted: speed is measured by the APS benchmark, because
  // timings on a shared machine are too noisy for a test.
  RecordProperty("search_seconds", std::to_string(search_s));

  // Brute force over every common (P, N), ranked by time and then grid order.
  std::vector<pipar::CandidateTime> common;
  for (int cut = 1; cut <= 4; ++cut) {
    for (int count : bounds.micro_batches) {
      common.push_back({{cut, count}, round_time(config, 4, {cut, count})});
    }
  }
  std::stable_sort(common.begin(), common.end(),
                   [](const pipar::CandidateTime& a, const pipar::CandidateTime& b) {
                     return a.round_s < b.round_s;
                   });
  EXPECT_LE(selection.round_s, common.front().round_s);
  ASSERT_EQ(selection.top_common.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(selection.top_common[i].choice, common[i].choice) << "rank " << i;
    EXPECT_DOUBLE_EQ(selection.top_common[i].round_s, common[i].round_s) << "rank " << i;
  }
  EXPECT_DOUBLE_EQ(pipar::predict_round(config, selection.choices).round_s, selection.round_s);

  const ParameterSelection again = pipar::select_parameters(config, bounds);
  EXPECT_EQ(again.choices, selection.choices);
  EXPECT_EQ(again.round_s, selection.round_s);
  EXPECT_EQ(again.candidates_evaluated, selection.candidates_evaluated);
  EXPECT_EQ(again.candidates_pruned, selection.candidates_pruned);
}

// 20 cut points times 9 values of N for 4 clients: the grid of a deep model.
TEST(CostModelSearch, TwentyCutPointsSearchQuickly) {
  CostModelConfig config = make_config(21, 4'000);
  config.batch_size = 100;
  config.server = uniform_device(21, 1e-5, 2e-5, 1e-5);
  for (int k = 1; k <= 4; ++k) {
    config.clients.push_back(
        make_client(uniform_device(21, 1e-4 * k, 2e-4 * k, 1e-5), {10.0, 25.0, 0.005}, 1'000));
  }
  SearchBounds bounds;
  bounds.micro_batches = {1, 2, 4, 5, 10, 20, 25, 50, 100};

  const auto start = std::chrono::steady_clock::now();
  const ParameterSelection selection = pipar::select_parameters(config, bounds);
  const double search_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("search_seconds", std::to_string(search_s));
  ASSERT_EQ(selection.choices.size(), 4u);
  for (const SplitChoice& choice : selection.choices) {
    EXPECT_GE(choice.cut, 1);
    EXPECT_LE(choice.cut, 20);
  }
  EXPECT_LE(selection.round_s, selection.top_common.front().round_s);
  EXPECT_DOUBLE_EQ(pipar::predict_round(config, selection.choices).round_s, selection.round_s);
}

// Only N = 4 of {3, 4, 7, 30} divides B = 100, so it is the only N the
// search returns, in its choice and its table.
TEST(CostModelSearch, SkipsNThatDoesNotDivideBatch) {
  CostModelConfig config = make_config(3, 1'000);
  config.batch_size = 100;
  config.server = uniform_device(3, 1e-4, 1e-4);
  config.clients = {make_client(uniform_device(3, 1e-3, 1e-3), {10.0, 10.0, 0.0}, 200),
                    make_client(uniform_device(3, 2e-3, 2e-3), {10.0, 10.0, 0.0}, 200)};
  SearchBounds bounds;
  bounds.micro_batches = {3, 4, 7, 30};
  bounds.top_count = 10;

  const ParameterSelection selection = pipar::select_parameters(config, bounds);
  ASSERT_EQ(selection.top_common.size(), 2u);  // P = 1 and P = 2
  for (const pipar::CandidateTime& candidate : selection.top_common) {
    EXPECT_EQ(candidate.choice.micro_batches, 4);
  }
  for (const SplitChoice& choice : selection.choices) EXPECT_EQ(choice.micro_batches, 4);
}

// ---------------------------------------------------------------------------
// Rejected input

TEST(CostModelInput, SearchRejectsInvalidBounds) {
  CostModelConfig config = make_config(3, 1'000);
  config.batch_size = 100;
  config.clients = {make_client(uniform_device(3, 1e-3, 1e-3), {}, 100)};
  const auto error_for = [&](SearchBounds bounds) {
    return input_error([&] { pipar::select_parameters(config, bounds); });
  };
  SearchBounds valid;
  valid.micro_batches = {4};
  EXPECT_EQ(error_for(valid), "");

  SearchBounds no_divisor = valid;
  no_divisor.micro_batches = {3, 7};
  EXPECT_NE(error_for(no_divisor).find("divides the batch size 100"), std::string::npos)
      << error_for(no_divisor);

  SearchBounds empty_list = valid;
  empty_list.micro_batches = {};
  EXPECT_NE(error_for(empty_list).find("no candidate numbers of micro-batches"), std::string::npos);

  SearchBounds zero = valid;
  zero.micro_batches = {4, 0};
  EXPECT_NE(error_for(zero).find("invalid candidate number of micro-batches 0"), std::string::npos);

  SearchBounds empty_range = valid;
  empty_range.min_cut = 2;
  empty_range.max_cut = 1;
  EXPECT_NE(error_for(empty_range).find("empty cut point range 2..1"), std::string::npos)
      << error_for(empty_range);

  SearchBounds low = valid;
  low.min_cut = 0;
  EXPECT_NE(error_for(low).find("invalid minimum cut point 0: expected 1..2"), std::string::npos)
      << error_for(low);

  SearchBounds high = valid;
  high.max_cut = 3;
  EXPECT_NE(error_for(high).find("invalid maximum cut point 3: expected 1..2"), std::string::npos)
      << error_for(high);

  SearchBounds passes = valid;
  passes.max_passes = -1;
  EXPECT_NE(error_for(passes).find("invalid number of search passes -1"), std::string::npos);
}

TEST(CostModelInput, PredictRejectsInvalidChoices) {
  CostModelConfig config = make_config(3, 1'000);
  config.batch_size = 100;
  config.clients = {make_client(uniform_device(3, 1e-3, 1e-3), {}, 100),
                    make_client(uniform_device(3, 1e-3, 1e-3), {}, 100)};
  const auto error_for = [&](std::vector<SplitChoice> choices) {
    return input_error([&] { pipar::predict_round(config, choices); });
  };
  EXPECT_EQ(error_for({{1, 4}, {2, 5}}), "");
  EXPECT_EQ(error_for({{1, 4}, {2, 3}}),
            "3 micro-batches for client 2 do not divide the batch size 100; choose a divisor of "
            "100");
  EXPECT_NE(error_for({{0, 4}, {2, 5}}).find("invalid cut point 0 for client 1: expected 1..2"),
            std::string::npos);
  EXPECT_NE(error_for({{1, 4}, {3, 5}}).find("invalid cut point 3 for client 2"),
            std::string::npos);
  EXPECT_NE(error_for({{1, 0}, {2, 5}}).find("invalid number of micro-batches 0"),
            std::string::npos);
  EXPECT_NE(error_for({{1, 4}}).find("got 1 (P, N) choices for 2 clients"), std::string::npos);
  EXPECT_NE(input_error([&] { pipar::predict_sl_round(config, 3); }).find("invalid cut point 3"),
            std::string::npos);
}

TEST(CostModelInput, RejectsInvalidConfig) {
  const auto error_for = [](const CostModelConfig& config) {
    return input_error([&] { pipar::predict_round(config, {{1, 1}}); });
  };
  CostModelConfig valid = make_config(2, 1'000);
  valid.clients = {make_client(uniform_device(2, 1e-3, 1e-3), {10.0, 10.0, 0.0}, 100)};
  EXPECT_EQ(error_for(valid), "");

  CostModelConfig one_block = valid;
  one_block.blocks.resize(1);
  EXPECT_NE(error_for(one_block).find("the model has 1 blocks"), std::string::npos);

  CostModelConfig short_server = valid;
  short_server.server.blocks.resize(1);
  EXPECT_NE(error_for(short_server).find("the server has 1 block timings but the model has 2"),
            std::string::npos);

  CostModelConfig negative_time = valid;
  negative_time.clients[0].device.blocks[1].backward_s_per_sample = -1.0;
  EXPECT_NE(error_for(negative_time).find("invalid client 1 block 2 backward time per sample -1"),
            std::string::npos)
      << error_for(negative_time);

  CostModelConfig bad_bandwidth = valid;
  bad_bandwidth.clients[0].link.uplink_mbps = -5.0;
  EXPECT_NE(error_for(bad_bandwidth).find("invalid client 1 uplink bandwidth -5"),
            std::string::npos);

  CostModelConfig infinite = valid;
  infinite.clients[0].link.downlink_mbps = std::numeric_limits<double>::infinity();
  EXPECT_EQ(error_for(infinite), "");

  CostModelConfig no_samples = valid;
  no_samples.clients[0].samples = 0;
  EXPECT_NE(error_for(no_samples).find("invalid sample count 0 of client 1"), std::string::npos);

  CostModelConfig no_clients = valid;
  no_clients.clients.clear();
  EXPECT_NE(input_error([&] { pipar::predict_fl_round(no_clients); }).find("no clients"),
            std::string::npos);

  CostModelConfig bad_batch = valid;
  bad_batch.batch_size = 0;
  EXPECT_NE(error_for(bad_batch).find("invalid batch size 0"), std::string::npos);

  CostModelConfig negative_bytes = valid;
  negative_bytes.blocks[0].output_bytes_per_sample = -4;
  EXPECT_NE(error_for(negative_bytes).find("invalid block 1 output size per sample -4 bytes"),
            std::string::npos);
}

}  // namespace
