// Tests of the split-training server against a hand-driven client; run under
// mpiexec with 2 or more ranks. Rank 0 runs SplitServer, rank 1 plays the
// client, other ranks wait.
#include "pipar/split_training.hpp"

#include <gtest/gtest.h>

#include "pipar/model.hpp"
#include "pipar/mpi.hpp"

namespace {

constexpr int kCut = 2;
constexpr std::uint64_t kModelSeed = 7;
constexpr std::int64_t kBatchSamples = 10;
constexpr int kMicroBatches = 3;  // tensor_split gives sizes 4, 3, 3

torch::nn::Sequential seeded_model() {
  torch::manual_seed(kModelSeed);
  return pipar::build_model("vgg5-nobn", {1, 28, 28}, 10);
}

pipar::TrainingConfig server_config() {
  pipar::TrainingConfig config;
  config.cut = kCut;
  config.clients = 1;
  config.learning_rate = 0.1;
  config.momentum = 0.9;
  return config;
}

torch::Tensor summed_loss(torch::nn::Sequential& server_part, const torch::Tensor& activation,
                          const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(
      server_part->forward(activation), labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

// The client side: sends micro-batches of unequal size in the order 2, 0, 1
// and checks each returned gradient against the gradient of that
// micro-batch's own loss. Returns the server part's expected state after the
// batch's single SGD step, and the batch's mean loss.
std::pair<torch::Tensor, double> drive_client(pipar::Transport& transport) {
  auto model = seeded_model();
  auto client_part = pipar::slice_blocks(model, 0, kCut);
  auto expected_server = pipar::slice_blocks(model, kCut, model->size());

  pipar::Message global = transport.receive();
  EXPECT_EQ(global.header.kind, pipar::MessageKind::kGlobalModel);
  pipar::load_state(*client_part, pipar::FlatState{global.tensors[0], global.tensors[1]});

  torch::manual_seed(99);
  const auto images = torch::randn({kBatchSamples, 1, 28, 28});
  const auto labels = torch::arange(kBatchSamples, torch::kInt64) % 10;
  const auto image_chunks = images.tensor_split(kMicroBatches);
  const auto label_chunks = labels.tensor_split(kMicroBatches);
  std::vector<torch::Tensor> activations;
  for (const auto& chunk : image_chunks) activations.push_back(client_part->forward(chunk).detach());

  for (int i : {2, 0, 1}) {
    pipar::MessageHeader header;
    header.kind = pipar::MessageKind::kActivation;
    header.client = 1;
    header.round = 0;
    header.batch = 0;
    header.micro_batch = i;
    header.micro_batch_count = kMicroBatches;
    header.batch_samples = kBatchSamples;
    transport.send(0, header, {activations[static_cast<std::size_t>(i)].contiguous(),
                               label_chunks[static_cast<std::size_t>(i)].contiguous()});
  }

  for (int received = 0; received < kMicroBatches; ++received) {
    pipar::Message gradient = transport.receive();
    const int i = gradient.header.micro_batch;
    EXPECT_EQ(gradient.header.kind, pipar::MessageKind::kGradient);
    const auto input = activations[static_cast<std::size_t>(i)].clone().requires_grad_(true);
    (summed_loss(expected_server, input, label_chunks[static_cast<std::size_t>(i)]) /
     static_cast<double>(kBatchSamples))
        .backward();
    EXPECT_EQ(gradient.tensors[0].sizes(), input.grad().sizes()) << "micro-batch " << i;
    EXPECT_TRUE(torch::allclose(gradient.tensors[0], input.grad(), 1e-5, 1e-7))
        << "micro-batch " << i << ": the server used another micro-batch's labels or activations";
  }
  // The whole batch's mean loss and one SGD step: what the server must end with.
  expected_server->zero_grad();
  const auto loss = summed_loss(expected_server, torch::cat(activations), labels) /
                    static_cast<double>(kBatchSamples);
  const double mean_loss = loss.item<double>();
  loss.backward();
  torch::optim::SGD optimizer(expected_server->parameters(),
                              torch::optim::SGDOptions(0.1).momentum(0.9));
  optimizer.step();

  const pipar::FlatState client_state = pipar::flatten_state(*client_part);
  pipar::MessageHeader header;
  header.kind = pipar::MessageKind::kClientModel;
  header.client = 1;
  header.round = 0;
  header.samples = kBatchSamples;
  transport.wait(*transport.send(0, header, {client_state.floating, client_state.integer}));
  return {pipar::flatten_state(*expected_server).floating, mean_loss};
}

TEST(SplitServer, MicroBatchesOutOfOrderUnequalSizes) {
  auto world = pipar::mpi::Communicator::duplicate(MPI_COMM_WORLD);
  if (world.rank() > 1) {
    world.barrier();
    return;
  }
  pipar::Transport transport(world);
  auto model = seeded_model();
  const auto expected_size = pipar::flatten_state(*pipar::slice_blocks(model, kCut, model->size())).floating.numel();
  std::vector<double> expected(static_cast<std::size_t>(expected_size) + 1);

  if (world.rank() == 1) {
    const auto [server_state, mean_loss] = drive_client(transport);
    const auto values = server_state.to(torch::kFloat64);
    std::copy(values.data_ptr<double>(), values.data_ptr<double>() + values.numel(), expected.begin());
    expected.back() = mean_loss;
    MPI_Send(expected.data(), static_cast<int>(expected.size()), MPI_DOUBLE, 0, 7, MPI_COMM_WORLD);
  } else {
    std::vector<torch::nn::Sequential> replicas;
    auto replica_model = seeded_model();
    replicas.push_back(pipar::slice_blocks(replica_model, kCut, replica_model->size()));
    pipar::EventLog events;
    const pipar::RoleContext context{transport, events, pipar::Clock(), 1.0, 1};
    pipar::SplitServer server(pipar::SplitServer::Mode::kParallel, model, std::move(replicas),
                              server_config(), context);
    const pipar::ServerRoundStats stats = server.train_round(0);

    MPI_Recv(expected.data(), static_cast<int>(expected.size()), MPI_DOUBLE, 1, 7, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    const auto actual = pipar::flatten_state(*pipar::slice_blocks(model, kCut, model->size())).floating;
    const auto wanted = torch::tensor(std::vector<double>(expected.begin(), expected.end() - 1)).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(actual, wanted, 1e-4, 1e-6))
        << "largest difference " << (actual - wanted).abs().max().item<float>();
    EXPECT_EQ(stats.samples, kBatchSamples);
    EXPECT_NEAR(stats.train_loss, expected.back(), 1e-5);
  }
  world.barrier();
}

}  // namespace
