// Tests of the block chains: sizes, and exact back-propagation across a cut.
#include "pipar/model.hpp"

#include <gtest/gtest.h>

#include "pipar/error.hpp"

namespace {

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(logits, labels);
}

TEST(Vgg5, ParameterCountGrayscale) {
  // conv 1->32: 320, BN: 64, conv 32->64: 18,496, BN: 128, conv 64->64:
  // 36,928, BN: 128, dense 3136->128: 401,536, dense 128->10: 1,290.
  const auto model = pipar::build_model("vgg5", {1, 28, 28}, 10);
  EXPECT_EQ(model->size(), 5u);
  EXPECT_EQ(parameter_count(*model), 458890);
}

TEST(Vgg5, ParameterCountColour) {
  // As above with conv 3->32: 896 and dense 4096->128: 524,416.
  const auto model = pipar::build_model("vgg5", {3, 32, 32}, 10);
  EXPECT_EQ(parameter_count(*model), 582346);
}

TEST(Vgg5, OutputShapePerInput) {
  for (const pipar::InputShape input : {pipar::InputShape{1, 28, 28}, pipar::InputShape{3, 32, 32}}) {
    auto model = pipar::build_model("vgg5", input, 10);
    const auto logits = model->forward(torch::zeros({2, input.channels, input.height, input.width}));
    EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{2, 10})) << "input " << input.height;
  }
}

TEST(Vgg5, UnknownModelRejected) {
  EXPECT_THROW(pipar::build_model("vgg7", {1, 28, 28}, 10), pipar::InputError);
}

TEST(CutPoint, OutOfRangeNamesValidRange) {
  EXPECT_NO_THROW(pipar::check_cut_point("vgg5", 1, 5));
  EXPECT_NO_THROW(pipar::check_cut_point("vgg5", 4, 5));
  for (int cut : {0, 5, -1}) {
    try {
      pipar::check_cut_point("vgg5", cut, 5);
      FAIL() << "cut " << cut << " accepted";
    } catch (const pipar::InputError& error) {
      EXPECT_NE(std::string(error.what()).find("from 1 to 4"), std::string::npos) << error.what();
    }
  }
}

TEST(SliceBlocks, SharesParametersWithModel) {
  auto model = pipar::build_model("vgg5", {1, 28, 28}, 10);
  auto front = pipar::slice_blocks(model, 0, 2);
  auto back = pipar::slice_blocks(model, 2, 5);
  EXPECT_EQ(parameter_count(*front) + parameter_count(*back), parameter_count(*model));
  EXPECT_EQ(front->parameters()[0].data_ptr(), model->parameters()[0].data_ptr());
}

// The client sends the cut-layer activation, the server back-propagates to
// it and returns its gradient, and the client finishes the backward pass:
// every parameter's gradient must equal the unsplit model's.
TEST(SplitModel, GradientsMatchUnsplitAtEveryCut) {
  for (const pipar::InputShape input : {pipar::InputShape{1, 28, 28}, pipar::InputShape{3, 32, 32}}) {
    torch::manual_seed(11);
    const auto images = torch::randn({16, input.channels, input.height, input.width});
    const auto labels = torch::randint(0, 10, {16}, torch::kInt64);

    torch::manual_seed(5);
    auto reference = pipar::build_model("vgg5", input, 10);
    const auto reference_loss = loss_of(reference->forward(images), labels);
    reference_loss.backward();

    for (std::size_t cut = 1; cut < reference->size(); ++cut) {
      torch::manual_seed(5);
      auto model = pipar::build_model("vgg5", input, 10);
      auto client = pipar::slice_blocks(model, 0, cut);
      auto server = pipar::slice_blocks(model, cut, model->size());

      const auto activation = client->forward(images);
      const auto received = activation.detach().requires_grad_(true);
      const auto loss = loss_of(server->forward(received), labels);
      loss.backward();
      activation.backward(received.grad());

      EXPECT_FLOAT_EQ(loss.item<float>(), reference_loss.item<float>()) << "cut " << cut;
      const auto expected = reference->parameters();
      const auto actual = model->parameters();
      ASSERT_EQ(actual.size(), expected.size());
      for (std::size_t i = 0; i < actual.size(); ++i) {
        ASSERT_TRUE(actual[i].grad().defined()) << "cut " << cut << " parameter " << i;
        EXPECT_TRUE(torch::allclose(actual[i].grad(), expected[i].grad(), /*rtol=*/1e-5,
                                    /*atol=*/1e-7))
            << "input " << input.channels << "x" << input.height << ", cut " << cut
            << ", parameter " << i << ", max difference "
            << (actual[i].grad() - expected[i].grad()).abs().max().item<float>();
      }
    }
  }
}

}  // namespace

namespace {

TEST(DescribeBlocks, Vgg5Grayscale) {
  auto model = pipar::build_model("vgg5", {1, 28, 28}, 10);
  const auto blocks = pipar::describe_blocks(model, {1, 28, 28});
  ASSERT_EQ(blocks.size(), 5u);
  EXPECT_EQ(blocks[0].output_shape, (std::vector<std::int64_t>{32, 14, 14}));
  EXPECT_EQ(blocks[0].output_bytes, 32 * 14 * 14 * 4);
  // conv 1->32, 3x3, on 28x28 outputs: 2 * 288 weights * 784 positions.
  EXPECT_EQ(blocks[0].forward_flops, 2 * 288 * 784);
  EXPECT_EQ(blocks[0].parameters, 320 + 64);
  EXPECT_EQ(blocks[1].output_shape, (std::vector<std::int64_t>{64, 7, 7}));
  // conv 32->64 on 14x14 outputs.
  EXPECT_EQ(blocks[1].forward_flops, 2 * 32 * 64 * 9 * 196);
  EXPECT_EQ(blocks[3].output_shape, (std::vector<std::int64_t>{128}));
  EXPECT_EQ(blocks[3].forward_flops, 2 * 3136 * 128);
  EXPECT_EQ(blocks[4].output_bytes, 40);
  std::int64_t total = 0;
  for (const auto& block : blocks) total += block.parameters;
  EXPECT_EQ(total, 458890);
}

}  // namespace
