// Tests of flat model state and FedAvg.
#include "pipar/fedavg.hpp"

#include <gtest/gtest.h>

#include "pipar/model.hpp"

namespace {

pipar::FlatState constant_state(float value, std::int64_t counter) {
  return pipar::FlatState{torch::full({5}, value), torch::full({2}, counter, torch::kInt64)};
}

TEST(FedAvg, WeightsBySampleCount) {
  const auto average = pipar::weighted_average(
      {constant_state(1.0f, 0), constant_state(2.0f, 0), constant_state(3.0f, 0)}, {10, 20, 70});
  // (1*10 + 2*20 + 3*70) / 100 = 2.6
  for (std::int64_t i = 0; i < 5; ++i) {
    EXPECT_FLOAT_EQ(average.floating[i].item<float>(), 2.6f) << "element " << i;
  }
}

TEST(FedAvg, ClientOrderDoesNotMatter) {
  const auto forward = pipar::weighted_average(
      {constant_state(1.0f, 0), constant_state(2.0f, 0), constant_state(3.0f, 0)}, {10, 20, 70});
  const auto backward = pipar::weighted_average(
      {constant_state(3.0f, 0), constant_state(2.0f, 0), constant_state(1.0f, 0)}, {70, 20, 10});
  EXPECT_TRUE(torch::equal(forward.floating, backward.floating));
}

TEST(FedAvg, IntegerBuffersStayIntegers) {
  const auto average =
      pipar::weighted_average({constant_state(0.0f, 100), constant_state(0.0f, 151)}, {1, 1});
  EXPECT_EQ(average.integer.scalar_type(), torch::kInt64);
  EXPECT_EQ(average.integer[0].item<std::int64_t>(), 126);  // 125.5 rounds half away from zero
}

TEST(FedAvg, RejectsBadWeights) {
  EXPECT_THROW(pipar::weighted_average({constant_state(1.0f, 0)}, {0}), std::invalid_argument);
  EXPECT_THROW(pipar::weighted_average({constant_state(1.0f, 0)}, {1, 2}), std::invalid_argument);
  EXPECT_THROW(pipar::weighted_average({}, {}), std::invalid_argument);
}

TEST(FedAvg, AveragesBatchNormRunningMeans) {
  auto first = torch::nn::BatchNorm1d(3);
  auto second = torch::nn::BatchNorm1d(3);
  {
    torch::NoGradGuard no_grad;
    first->running_mean.fill_(1.0);
    second->running_mean.fill_(4.0);
    first->num_batches_tracked.fill_(2);
    second->num_batches_tracked.fill_(4);
  }
  const auto average =
      pipar::weighted_average({pipar::flatten_state(*first), pipar::flatten_state(*second)}, {2, 1});
  auto target = torch::nn::BatchNorm1d(3);
  pipar::load_state(*target, average);
  // (1*2 + 4*1) / 3 = 2 for the running mean, (2*2 + 4*1) / 3 = 2.67 -> 3.
  EXPECT_TRUE(torch::allclose(target->running_mean, torch::full({3}, 2.0f)));
  EXPECT_EQ(target->num_batches_tracked.item<std::int64_t>(), 3);
}

TEST(FlatState, RoundTripThroughModule) {
  torch::manual_seed(1);
  auto source = pipar::build_model("vgg5", {1, 28, 28}, 10);
  torch::manual_seed(2);
  auto target = pipar::build_model("vgg5", {1, 28, 28}, 10);
  pipar::load_state(*target, pipar::flatten_state(*source));
  const auto expected = source->parameters();
  const auto actual = target->parameters();
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_TRUE(torch::equal(actual[i], expected[i])) << "parameter " << i;
  }
}

TEST(FlatState, SizeMismatchRejected) {
  auto module = torch::nn::Linear(4, 2);
  EXPECT_THROW(pipar::load_state(*module, pipar::FlatState{torch::zeros({3}), torch::zeros({0}, torch::kInt64)}),
               std::invalid_argument);
  EXPECT_THROW(pipar::load_state(*module, pipar::FlatState{torch::zeros({20}), torch::zeros({0}, torch::kInt64)}),
               std::invalid_argument);
}

TEST(FlatState, SplitInvertsConcat) {
  const pipar::FlatState front{torch::arange(3, torch::kFloat32), torch::arange(1, torch::kInt64)};
  const pipar::FlatState back{torch::arange(4, torch::kFloat32) + 10, torch::arange(2, torch::kInt64) + 5};
  const auto [left, right] = pipar::split_state(pipar::concat_state(front, back), 3, 1);
  EXPECT_TRUE(torch::equal(left.floating, front.floating));
  EXPECT_TRUE(torch::equal(left.integer, front.integer));
  EXPECT_TRUE(torch::equal(right.floating, back.floating));
  EXPECT_TRUE(torch::equal(right.integer, back.integer));
}

}  // namespace

namespace {

// Clients with different cut points average full-model states: joining a
// client part and a server part must give the whole model's own layout at
// every cut point, BatchNorm buffers included.
TEST(FlatState, JoinMatchesWholeModelAtEveryCut) {
  torch::manual_seed(3);
  torch::nn::Sequential model = pipar::build_model("vgg5", pipar::InputShape{1, 28, 28}, 10);
  // Distinct running statistics, so that a misplaced buffer shows.
  model->train();
  model->forward(torch::randn({4, 1, 28, 28}));
  const pipar::FlatState whole = pipar::flatten_state(*model);
  for (std::size_t cut = 1; cut < model->size(); ++cut) {
    const torch::nn::Sequential front = pipar::slice_blocks(model, 0, cut);
    const torch::nn::Sequential back = pipar::slice_blocks(model, cut, model->size());
    const pipar::FlatState joined = pipar::join_state(
        pipar::flatten_state(*front), pipar::parameter_count(*front), pipar::flatten_state(*back),
        pipar::parameter_count(*back));
    EXPECT_TRUE(torch::equal(joined.floating, whole.floating)) << "cut " << cut;
    EXPECT_TRUE(torch::equal(joined.integer, whole.integer)) << "cut " << cut;
  }
}

}  // namespace
