// Tests of the block chains: sizes, and exact back-propagation across a cut.
#include "pipar/model.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cctype>

#include "pipar/error.hpp"
#include "pipar/options.hpp"

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

TEST(ModelNames, UnknownModelErrorListsEach) {
  try {
    pipar::build_model("vgg7", {1, 28, 28}, 10);
    FAIL() << "vgg7 accepted";
  } catch (const pipar::InputError& error) {
    for (const std::string& name : pipar::model_names()) {
      EXPECT_NE(std::string(error.what()).find(name), std::string::npos) << error.what();
    }
  }
}

// src/options.cpp lists the names again because pipar_core has no LibTorch.
TEST(ModelNames, TrainOptionAcceptsEach) {
  for (const std::string& name : pipar::model_names()) {
    CLI::App app;
    pipar::TrainOptions options;
    pipar::add_train_options(app, options);
    EXPECT_NO_THROW(app.parse("--model " + name, /*program_name_included=*/false)) << name;
    EXPECT_EQ(options.model, name);
  }
  CLI::App app;
  pipar::TrainOptions options;
  pipar::add_train_options(app, options);
  EXPECT_THROW(app.parse("--model vgg7", /*program_name_included=*/false), CLI::ValidationError);
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

// The model zoo beyond VGG-5: VGG-11, VGG-16, ResNet-18, ResNet-50 and
// MobileNetV3-Small and -Large.
namespace {

const std::vector<std::string> kZooModels = {"vgg11",    "vgg16",
                                             "resnet18", "resnet50",
                                             "mobilenetv3-small", "mobilenetv3-large"};

const pipar::InputShape kGrayscale28{1, 28, 28};
const pipar::InputShape kColour32{3, 32, 32};

struct ParameterReference {
  std::string model;
  pipar::InputShape input;
  std::int64_t classes;
  std::int64_t parameters;
};

// Parameter counts by hand from the layer tables, for C input channels and K
// classes. A 3x3 conv layer from I to O channels has 9*I*O weights, plus O
// biases in VGG only. BatchNorm adds 2 per channel, and a dense layer from I
// to K has I*K + K.
//
// VGG-11 (configuration A): the first conv layer, C -> 64, has 576C + 192.
// The others: 64 -> 128: 74,112; 128 -> 256: 295,680; 256 -> 256: 590,592;
// 256 -> 512: 1,181,184; three 512 -> 512: 3 * 2,360,832 = 7,082,496; in all
// 9,224,064. The dense layer 512 -> K has 513K. Total 9,224,256 + 576C + 513K.
//
// VGG-16 (configuration D): the first conv layer has 576C + 192. The others:
// 64 -> 64: 37,056; 64 -> 128: 74,112; 128 -> 128: 147,840; 128 -> 256:
// 295,680; two 256 -> 256: 1,181,184; 256 -> 512: 1,181,184; five 512 -> 512:
// 11,804,160; in all 14,721,216. Total 14,721,408 + 576C + 513K.
//
// ResNet-18: torchvision's resnet18 has 11,689,512 parameters for C = 3 and
// K = 1000 (num_params on its page of torchvision's stable documentation). In
// parameters, the CIFAR form differs only in the stem, a 3x3 conv layer (576C
// weights) in place of 7x7 (9,408 for C = 3), and in the dense layer, 513K in
// place of 513,000. Total 11,689,512 - 9,408 - 513,000 + 576C + 513K
// = 11,167,104 + 576C + 513K; for C = 3 and K = 10 that is 11,173,962.
//
// ResNet-50: torchvision's resnet50 has 25,557,032 (its page in the same
// documentation, for C = 3 and K = 1000). With
// the 3x3 stem and the dense layer 2048 -> K (2049K in place of 2,049,000):
// 25,557,032 - 9,408 - 2,049,000 + 576C + 2049K = 23,498,624 + 576C + 2049K.
//
// MobileNetV3-Large: torchvision's mobilenet_v3_large has 5,483,032 for C = 3
// and K = 1000 (its page in the same documentation), with the same layers. The stem conv layer
// has 144C weights (432 for C = 3) and the last dense layer 1280 -> K has
// 1281K: 5,483,032 - 432 - 1,281,000 + 144C + 1281K = 4,201,600 + 144C + 1281K.
//
// MobileNetV3-Small: the stem has 144C + 32 (with BatchNorm). In a unit, the
// 1x1 expansion and projection have I*O weights each, a depthwise layer k*k
// per channel, BatchNorm 2 per channel, and squeeze-and-excitation
// 2*E*S + S + E for E expanded and S squeezed channels. The 11 units have
// 744, 3,864, 5,416, 13,736, 57,264, 57,264, 21,968, 29,800, 91,848, 294,096
// and 294,096, in all 870,096. The first, for example, is a 3x3 depthwise
// layer on 16 channels (144 + 32), squeeze-and-excitation 16 -> 8 -> 16 (280)
// and a 16 -> 16 projection (256 + 32). The last conv layer 96 -> 576 has 56,448, the dense layer
// 576 -> 1024 has 590,848 and 1024 -> K has 1025K. Total
// 1,517,424 + 144C + 1025K; for C = 3 and K = 1000, 2,542,856.
const std::vector<ParameterReference> kParameterReferences = {
    {"vgg11", kGrayscale28, 10, 9229962},
    {"vgg11", kGrayscale28, 100, 9276132},
    {"vgg11", kColour32, 10, 9231114},
    {"vgg11", kColour32, 100, 9277284},
    {"vgg16", kGrayscale28, 10, 14727114},
    {"vgg16", kGrayscale28, 100, 14773284},
    {"vgg16", kColour32, 10, 14728266},
    {"vgg16", kColour32, 100, 14774436},
    {"resnet18", kGrayscale28, 10, 11172810},
    {"resnet18", kGrayscale28, 100, 11218980},
    {"resnet18", kColour32, 10, 11173962},
    {"resnet18", kColour32, 100, 11220132},
    {"resnet50", kGrayscale28, 10, 23519690},
    {"resnet50", kGrayscale28, 100, 23704100},
    {"resnet50", kColour32, 10, 23520842},
    {"resnet50", kColour32, 100, 23705252},
    {"mobilenetv3-small", kGrayscale28, 10, 1527818},
    {"mobilenetv3-small", kGrayscale28, 100, 1620068},
    {"mobilenetv3-small", kColour32, 10, 1528106},
    {"mobilenetv3-small", kColour32, 100, 1620356},
    {"mobilenetv3-large", kGrayscale28, 10, 4214554},
    {"mobilenetv3-large", kGrayscale28, 100, 4329844},
    {"mobilenetv3-large", kColour32, 10, 4214842},
    {"mobilenetv3-large", kColour32, 100, 4330132},
};

std::string describe(const pipar::InputShape& input) {
  return std::to_string(input.channels) + "x" + std::to_string(input.height) + "x" +
         std::to_string(input.width);
}

TEST(ModelZoo, ParameterCountsMatchLayerTables) {
  for (const ParameterReference& reference : kParameterReferences) {
    const auto model = pipar::build_model(reference.model, reference.input, reference.classes);
    EXPECT_EQ(parameter_count(*model), reference.parameters)
        << reference.model << " for " << describe(reference.input) << ", " << reference.classes
        << " classes";
  }
}

// Built for ImageNet as torchvision builds them (the stem has stride 2 from
// 64x64 inputs on), MobileNetV3-Large has torchvision's published count and
// MobileNetV3-Small the count by hand above for C = 3 and K = 1000.
TEST(ModelZoo, MobileNetV3ImageNetCounts) {
  const pipar::InputShape imagenet{3, 224, 224};
  auto large = pipar::build_model("mobilenetv3-large", imagenet, 1000);
  EXPECT_EQ(parameter_count(*large), 5483032);
  auto small = pipar::build_model("mobilenetv3-small", imagenet, 1000);
  EXPECT_EQ(parameter_count(*small), 2542856);

  torch::NoGradGuard no_grad;
  small->eval();
  const auto logits = small->forward(torch::zeros({1, 3, 224, 224}));
  EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{1, 1000}));
}

TEST(ModelZoo, OutputShapePerInputAndClasses) {
  for (const std::string& name : kZooModels) {
    for (const pipar::InputShape input : {kGrayscale28, kColour32}) {
      for (const std::int64_t classes : {10, 100}) {
        torch::manual_seed(3);
        auto model = pipar::build_model(name, input, classes);
        const auto logits =
            model->forward(torch::randn({2, input.channels, input.height, input.width}));
        EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{2, classes}))
            << name << " for " << describe(input) << ", " << classes << " classes";
      }
    }
  }
}

TEST(ModelZoo, BlockCounts) {
  // VGG: one block per conv layer and the dense layer. ResNet: the stem, one
  // block per residual unit, pool and dense layer. MobileNetV3: the stem, one
  // block per unit, the last conv layer, and the two dense layers.
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {"vgg11", 9},     {"vgg16", 14},           {"resnet18", 10},
      {"resnet50", 18}, {"mobilenetv3-small", 15}, {"mobilenetv3-large", 19}};
  for (const auto& [name, blocks] : expected) {
    EXPECT_EQ(pipar::build_model(name, kGrayscale28, 10)->size(), blocks) << name;
  }
}

std::vector<torch::Tensor> gradients_of(const torch::nn::Sequential& model) {
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : model->parameters()) {
    gradients.push_back(parameter.grad().defined() ? parameter.grad().clone() : torch::Tensor());
  }
  return gradients;
}

struct SplitCase {
  std::string model;
  pipar::InputShape input;
};

std::string case_name(const testing::TestParamInfo<SplitCase>& info) {
  std::string name = info.param.model + "_" + describe(info.param.input);
  for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// As SplitModel.GradientsMatchUnsplitAtEveryCut, for every zoo model in train
// mode: BatchNorm normalises with the statistics of the same batch on both
// paths, and reseeding the generator before each forward pass gives the
// MobileNetV3 dropout the same mask. VGG-11 and MobileNetV3 run on 1x28x28,
// which covers the VGG padding, and on 3x32x32. VGG-16 and ResNet-18 run on
// 3x32x32 only. ResNet-50 runs on 3x16x16, with a quarter of the convolution
// FLOPs of 3x32x32, because whether a cut changes the result does not depend
// on the image size.
class SplitEqualsUnsplit : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitEqualsUnsplit, AtEveryCut) {
  constexpr std::int64_t kBatch = 2;
  const std::string name = GetParam().model;
  const pipar::InputShape input = GetParam().input;
  torch::manual_seed(11);
  const auto images = torch::randn({kBatch, input.channels, input.height, input.width});
  const auto labels = torch::randint(0, 10, {kBatch}, torch::kInt64);

  torch::manual_seed(5);
  auto model = pipar::build_model(name, input, 10);
  model->train();
  torch::manual_seed(7);
  const auto reference_logits = model->forward(images);
  loss_of(reference_logits, labels).backward();
  const auto reference_gradients = gradients_of(model);

  for (std::size_t cut = 1; cut < model->size(); ++cut) {
    const std::string where = "cut " + std::to_string(cut);
    model->zero_grad();
    auto client = pipar::slice_blocks(model, 0, cut);
    auto server = pipar::slice_blocks(model, cut, model->size());

    torch::manual_seed(7);
    const auto activation = client->forward(images);
    const auto received = activation.detach().requires_grad_(true);
    const auto logits = server->forward(received);
    loss_of(logits, labels).backward();
    activation.backward(received.grad());

    EXPECT_TRUE(torch::allclose(logits, reference_logits, /*rtol=*/1e-5, /*atol=*/1e-6))
        << where << ", max logit difference "
        << (logits - reference_logits).abs().max().item<float>();
    const auto gradients = gradients_of(model);
    ASSERT_EQ(gradients.size(), reference_gradients.size()) << where;
    for (std::size_t i = 0; i < gradients.size(); ++i) {
      ASSERT_TRUE(gradients[i].defined()) << where << ", parameter " << i;
      EXPECT_TRUE(torch::allclose(gradients[i], reference_gradients[i], /*rtol=*/1e-5,
                                  /*atol=*/1e-7))
          << where << ", parameter " << i << ", max difference "
          << (gradients[i] - reference_gradients[i]).abs().max().item<float>();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ModelZoo, SplitEqualsUnsplit,
                         testing::Values(SplitCase{"vgg11", kGrayscale28},
                                         SplitCase{"vgg11", kColour32},
                                         SplitCase{"vgg16", kColour32},
                                         SplitCase{"resnet18", kColour32},
                                         SplitCase{"resnet50", {3, 16, 16}},
                                         SplitCase{"mobilenetv3-small", kGrayscale28},
                                         SplitCase{"mobilenetv3-small", kColour32},
                                         SplitCase{"mobilenetv3-large", kGrayscale28},
                                         SplitCase{"mobilenetv3-large", kColour32}),
                         case_name);

std::int64_t total_parameters(const std::vector<pipar::BlockInfo>& blocks) {
  std::int64_t total = 0;
  for (const auto& block : blocks) total += block.parameters;
  return total;
}

TEST(DescribeBlocks, ResNet18Colour) {
  auto model = pipar::build_model("resnet18", kColour32, 100);
  const auto blocks = pipar::describe_blocks(model, kColour32);
  ASSERT_EQ(blocks.size(), 10u);
  EXPECT_EQ(total_parameters(blocks), parameter_count(*model));
  EXPECT_EQ(blocks.back().output_shape, (std::vector<std::int64_t>{100}));
  EXPECT_EQ(blocks.back().output_bytes, 400);

  // Stem: conv 3->64, 3x3, on 32x32 outputs, and its BatchNorm.
  EXPECT_EQ(blocks[0].output_shape, (std::vector<std::int64_t>{64, 32, 32}));
  EXPECT_EQ(blocks[0].parameters, 1728 + 128);
  EXPECT_EQ(blocks[0].forward_flops, 2 * 1728 * 1024);
  // First residual unit: two conv layers 64->64 (36,864 weights) on 32x32.
  EXPECT_EQ(blocks[1].output_shape, (std::vector<std::int64_t>{64, 32, 32}));
  EXPECT_EQ(blocks[1].forward_flops, 2 * 2 * 36864 * 1024);
  // First unit of stage 2, on 16x16 outputs: conv 64->128 with stride 2
  // (73,728 weights), conv 128->128 (147,456) and the 1x1 projection shortcut
  // 64->128 (8,192), which a walk of the unit's main path alone would miss.
  EXPECT_EQ(blocks[3].output_shape, (std::vector<std::int64_t>{128, 16, 16}));
  EXPECT_EQ(blocks[3].forward_flops, 2 * (73728 + 147456 + 8192) * 256);
  // Global average pool and dense layer 512->100.
  EXPECT_EQ(blocks[9].forward_flops, 2 * 512 * 100);
}

TEST(DescribeBlocks, MobileNetV3SmallColour) {
  auto model = pipar::build_model("mobilenetv3-small", kColour32, 10);
  const auto blocks = pipar::describe_blocks(model, kColour32);
  ASSERT_EQ(blocks.size(), 15u);
  EXPECT_EQ(total_parameters(blocks), parameter_count(*model));
  EXPECT_EQ(blocks.back().output_shape, (std::vector<std::int64_t>{10}));

  // Stem with stride 1 for a 32x32 input: conv 3->16 (432 weights) on 32x32.
  EXPECT_EQ(blocks[0].output_shape, (std::vector<std::int64_t>{16, 32, 32}));
  EXPECT_EQ(blocks[0].forward_flops, 2 * 432 * 1024);
  // First unit, on 16x16 outputs: depthwise 3x3 on 16 channels (144 weights),
  // squeeze-and-excitation 16->8->16 on the 1x1 channel means (128 + 128)
  // and the projection 16->16 (256).
  EXPECT_EQ(blocks[1].output_shape, (std::vector<std::int64_t>{16, 16, 16}));
  EXPECT_EQ(blocks[1].forward_flops, 2 * (144 * 256 + 128 + 128 + 256 * 256));
  // Pool and dense layer 576->1024.
  EXPECT_EQ(blocks[13].output_shape, (std::vector<std::int64_t>{1024}));
  EXPECT_EQ(blocks[13].forward_flops, 2 * 576 * 1024);
}

// torchvision's mobilenet_v3_large page lists 0.22 GFLOPS for 224x224 inputs,
// a figure that counts each multiply-add once (its resnet50 page lists 4.09).
TEST(DescribeBlocks, MobileNetV3LargeImageNet) {
  const pipar::InputShape imagenet{3, 224, 224};
  auto model = pipar::build_model("mobilenetv3-large", imagenet, 1000);
  std::int64_t flops = 0;
  for (const auto& block : pipar::describe_blocks(model, imagenet)) flops += block.forward_flops;
  EXPECT_NEAR(static_cast<double>(flops) / 2, 0.22e9, 0.005e9) << flops;
}

TEST(DescribeBlocks, RestoresTrainingMode) {
  auto model = pipar::build_model("resnet18", kGrayscale28, 10);
  model->train();
  pipar::describe_blocks(model, kGrayscale28);
  EXPECT_TRUE(model->is_training());
}

}  // namespace
