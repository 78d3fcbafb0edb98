// Model zoo: chains of blocks.
#include "pipar/model.hpp"

#include <ATen/record_function.h>

#include <algorithm>
#include <cstring>

#include "pipar/error.hpp"

namespace pipar {
namespace {

namespace nn = torch::nn;

// Appends a 3x3 convolution with padding 1, BatchNorm (when `batch_norm` is
// set) and ReLU, then a 2x2 max-pool when `pool` is set.
void append_conv_layers(Block& block, std::int64_t in_channels, std::int64_t out_channels,
                        bool pool, bool batch_norm) {
  block->push_back(
      nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/3).padding(1)));
  if (batch_norm) block->push_back(nn::BatchNorm2d(out_channels));
  block->push_back(nn::ReLU());
  if (pool) block->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(/*kernel_size=*/2)));
}

Block conv_block(std::int64_t in_channels, std::int64_t out_channels, bool pool,
                 bool batch_norm) {
  Block block;
  append_conv_layers(block, in_channels, out_channels, pool, batch_norm);
  return block;
}

// VGG-5 as used by FedAdapt and PiPar: three conv blocks (32, 64, 64
// channels, the first two pooled) and two dense layers (128, classes).
nn::Sequential build_vgg5(const InputShape& input, std::int64_t classes, bool batch_norm) {
  if (input.height % 4 != 0 || input.width % 4 != 0) {
    throw InputError("vgg5 needs an input height and width divisible by 4, got " +
                     std::to_string(input.height) + "x" + std::to_string(input.width));
  }
  const std::int64_t features = 64 * (input.height / 4) * (input.width / 4);
  nn::Sequential model;
  model->push_back(conv_block(input.channels, 32, /*pool=*/true, batch_norm));
  model->push_back(conv_block(32, 64, /*pool=*/true, batch_norm));
  model->push_back(conv_block(64, 64, /*pool=*/false, batch_norm));
  model->push_back(Block(nn::Flatten(), nn::Linear(features, 128), nn::ReLU()));
  model->push_back(Block(nn::Linear(128, classes)));
  return model;
}

// ---------------------------------------------------------------------------
// VGG-11 and VGG-16 with BatchNorm (Simonyan and Zisserman 2015,
// configurations A and D), in the form common for 32x32 CIFAR images. Each 3x3
// conv layer of the configuration has bias, BatchNorm and ReLU. A single dense
// layer from the final channels to the classes replaces the three 4096-wide
// ImageNet dense layers.

// Output channels of each 3x3 conv layer, with kPool for a 2x2 max-pool.
constexpr std::int64_t kPool = 0;
const std::vector<std::int64_t> kVgg11Layers = {64,  kPool, 128, kPool, 256, 256, kPool,
                                                512, 512,   kPool, 512, 512, kPool};
const std::vector<std::int64_t> kVgg16Layers = {64,  64,  kPool, 128, 128, kPool, 256,
                                                256, 256, kPool, 512, 512, 512, kPool,
                                                512, 512, 512,   kPool};

// The five 2x2 pools divide the height and width by 32, which a 28x28 input
// does not survive (28, 14, 7, 3, 1, 0). So the first block zero-pads the
// input on all sides up to the next multiple of 32 (28x28 to 32x32, 2 pixels
// a side) and the last feature map is 1x1 for 28x28 and 32x32 inputs alike.
// Zero is the mean pixel of the normalised data sets.
constexpr std::int64_t kVggDownsampling = 32;

std::int64_t padded_size(std::int64_t size) {
  return (size + kVggDownsampling - 1) / kVggDownsampling * kVggDownsampling;
}

nn::Sequential build_vgg(const std::vector<std::int64_t>& layers, const InputShape& input,
                         std::int64_t classes) {
  const std::int64_t pad_height = padded_size(input.height) - input.height;
  const std::int64_t pad_width = padded_size(input.width) - input.width;

  nn::Sequential model;
  std::int64_t channels = input.channels;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] == kPool) continue;
    Block block;
    if (i == 0 && (pad_height > 0 || pad_width > 0)) {
      // Left, right, top and bottom. An odd total puts the extra pixel last.
      const std::int64_t left = pad_width / 2;
      const std::int64_t top = pad_height / 2;
      block->push_back(nn::ZeroPad2d(
          nn::ZeroPad2dOptions({left, pad_width - left, top, pad_height - top})));
    }
    const bool pool = i + 1 < layers.size() && layers[i + 1] == kPool;
    append_conv_layers(block, channels, layers[i], pool, /*batch_norm=*/true);
    model->push_back(block);
    channels = layers[i];
  }
  const std::int64_t features = channels * (padded_size(input.height) / kVggDownsampling) *
                                (padded_size(input.width) / kVggDownsampling);
  model->push_back(Block(nn::Flatten(), nn::Linear(features, classes)));
  return model;
}

// ---------------------------------------------------------------------------
// Modules that residual units are made of. Each has a concrete forward so
// that it can sit inside a Block.

// A residual unit: main(x) + shortcut(x), then ReLU when `relu_after_sum` is
// set. The shortcut is the identity when `projection` is empty.
class ResidualImpl : public nn::Module {
 public:
  ResidualImpl(Block main, Block projection, bool relu_after_sum)
      : main_(register_module("main", std::move(main))), relu_after_sum_(relu_after_sum) {
    if (!projection.is_empty()) projection_ = register_module("projection", std::move(projection));
  }

  torch::Tensor forward(torch::Tensor input) {
    torch::Tensor output = main_->forward(input);
    output = output + (projection_.is_empty() ? input : projection_->forward(input));
    return relu_after_sum_ ? torch::relu(output) : output;
  }

 private:
  Block main_;
  Block projection_{nullptr};
  bool relu_after_sum_;
};
TORCH_MODULE(Residual);

// Hard swish, x * ReLU6(x + 3) / 6 (Howard et al. 2019). LibTorch 1.13 has
// the function but no module for it.
class HardswishImpl : public nn::Module {
 public:
  torch::Tensor forward(torch::Tensor input) { return torch::hardswish(input); }
};
TORCH_MODULE(Hardswish);

// Squeeze-and-excitation: scales each channel by hard-sigmoid(fc2(ReLU(fc1(
// its spatial mean)))), with fc1 and fc2 1x1 convolutions with bias.
class SqueezeExcitationImpl : public nn::Module {
 public:
  SqueezeExcitationImpl(std::int64_t channels, std::int64_t squeeze_channels)
      : fc1_(register_module("fc1", nn::Conv2d(channels, squeeze_channels, /*kernel_size=*/1))),
        fc2_(register_module("fc2", nn::Conv2d(squeeze_channels, channels, /*kernel_size=*/1))) {}

  torch::Tensor forward(torch::Tensor input) {
    torch::Tensor scale = torch::adaptive_avg_pool2d(input, {1, 1});
    scale = torch::hardsigmoid(fc2_->forward(torch::relu(fc1_->forward(scale))));
    return input * scale;
  }

 private:
  nn::Conv2d fc1_;
  nn::Conv2d fc2_;
};
TORCH_MODULE(SqueezeExcitation);

nn::Conv2d conv_without_bias(std::int64_t in_channels, std::int64_t out_channels,
                             std::int64_t kernel_size, std::int64_t stride,
                             std::int64_t groups = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel_size)
                        .stride(stride)
                        .padding((kernel_size - 1) / 2)
                        .groups(groups)
                        .bias(false));
}

// ---------------------------------------------------------------------------
// ResNet-18 and ResNet-50 in the CIFAR form (He et al. 2016): a 3x3 stem
// convolution with stride 1 and no max-pool, then four stages of 64, 128, 256
// and 512 planes, the last three starting with stride 2. ResNet-18 stacks
// basic units [2, 2, 2, 2] and ResNet-50 bottleneck units [3, 4, 6, 3] that
// expand the planes 4 times and, as in torchvision, stride the 3x3
// convolution. Each residual unit is one block, and the global average pool
// and the dense layer are the last block.

enum class ResidualKind { kBasic, kBottleneck };

Block residual_unit(ResidualKind kind, std::int64_t in_channels, std::int64_t planes,
                    std::int64_t stride) {
  Block main;
  std::int64_t out_channels = planes;
  if (kind == ResidualKind::kBasic) {
    main->push_back(conv_without_bias(in_channels, planes, 3, stride));
    main->push_back(nn::BatchNorm2d(planes));
    main->push_back(nn::ReLU());
    main->push_back(conv_without_bias(planes, planes, 3, 1));
    main->push_back(nn::BatchNorm2d(planes));
  } else {
    out_channels = 4 * planes;
    main->push_back(conv_without_bias(in_channels, planes, 1, 1));
    main->push_back(nn::BatchNorm2d(planes));
    main->push_back(nn::ReLU());
    main->push_back(conv_without_bias(planes, planes, 3, stride));
    main->push_back(nn::BatchNorm2d(planes));
    main->push_back(nn::ReLU());
    main->push_back(conv_without_bias(planes, out_channels, 1, 1));
    main->push_back(nn::BatchNorm2d(out_channels));
  }
  Block projection{nullptr};
  if (stride != 1 || in_channels != out_channels) {
    projection = Block(conv_without_bias(in_channels, out_channels, 1, stride),
                       nn::BatchNorm2d(out_channels));
  }
  return Block(Residual(main, projection, /*relu_after_sum=*/true));
}

nn::Sequential build_resnet(ResidualKind kind, const std::vector<int>& units_per_stage,
                            const InputShape& input, std::int64_t classes) {
  nn::Sequential model;
  model->push_back(
      Block(conv_without_bias(input.channels, 64, 3, 1), nn::BatchNorm2d(64), nn::ReLU()));
  std::int64_t channels = 64;
  const std::int64_t stage_planes[] = {64, 128, 256, 512};
  for (std::size_t stage = 0; stage < units_per_stage.size(); ++stage) {
    for (int unit = 0; unit < units_per_stage[stage]; ++unit) {
      const std::int64_t stride = (stage > 0 && unit == 0) ? 2 : 1;
      model->push_back(residual_unit(kind, channels, stage_planes[stage], stride));
      channels = kind == ResidualKind::kBasic ? stage_planes[stage] : 4 * stage_planes[stage];
    }
  }
  model->push_back(Block(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(),
                         nn::Linear(channels, classes)));
  return model;
}

// ---------------------------------------------------------------------------
// MobileNetV3-Small and -Large (Howard et al. 2019, tables 1 and 2) as
// torchvision's mobilenetv3.py builds them with width multiplier 1. A 3x3 stem
// convolution to 16 channels comes first, then the inverted-residual units
// below and a 1x1 convolution to 6 times the last unit's channels. The
// classifier is a global average pool, a dense layer to 1024 (small) or 1280
// (large) features with hard swish and dropout 0.2, and a dense layer to the
// classes. BatchNorm has eps 0.001 and momentum 0.01, as in torchvision.
// Weights keep LibTorch's default initialisation rather than torchvision's.
//
// The stem has stride 2 as in torchvision only for inputs of at least 64x64.
// Smaller inputs, such as 28x28 and 32x32, get stride 1, so that the
// remaining four stride-2 units leave a 2x2 final feature map instead of 1x1.

struct InvertedResidualSetting {
  std::int64_t kernel_size;
  std::int64_t expanded_channels;
  std::int64_t out_channels;
  bool squeeze_excitation;
  bool hardswish;  // else ReLU
  std::int64_t stride;
};

// Rows of the paper's tables: {kernel size, expanded channels, output
// channels, squeeze-and-excitation, hard swish, stride}.
const std::vector<InvertedResidualSetting> kMobileNetV3SmallUnits = {
    {3, 16, 16, true, false, 2},    {3, 72, 24, false, false, 2},  {3, 88, 24, false, false, 1},
    {5, 96, 40, true, true, 2},     {5, 240, 40, true, true, 1},   {5, 240, 40, true, true, 1},
    {5, 120, 48, true, true, 1},    {5, 144, 48, true, true, 1},   {5, 288, 96, true, true, 2},
    {5, 576, 96, true, true, 1},    {5, 576, 96, true, true, 1},
};

const std::vector<InvertedResidualSetting> kMobileNetV3LargeUnits = {
    {3, 16, 16, false, false, 1},   {3, 64, 24, false, false, 2},  {3, 72, 24, false, false, 1},
    {5, 72, 40, true, false, 2},    {5, 120, 40, true, false, 1},  {5, 120, 40, true, false, 1},
    {3, 240, 80, false, true, 2},   {3, 200, 80, false, true, 1},  {3, 184, 80, false, true, 1},
    {3, 184, 80, false, true, 1},   {3, 480, 112, true, true, 1},  {3, 672, 112, true, true, 1},
    {5, 672, 160, true, true, 2},   {5, 960, 160, true, true, 1},  {5, 960, 160, true, true, 1},
};

constexpr std::int64_t kMobileNetV3StemChannels = 16;

nn::BatchNorm2d mobilenet_batch_norm(std::int64_t channels) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(0.001).momentum(0.01));
}

void append_activation(Block& block, bool hardswish) {
  if (hardswish) {
    block->push_back(Hardswish());
  } else {
    block->push_back(nn::ReLU());
  }
}

// Rounds `channels` to the nearest multiple of 8, but to no less than 8 and
// to no less than 90% of `channels`: the rule torchvision applies to the
// squeeze-and-excitation widths (its _make_divisible).
std::int64_t round_to_multiple_of_8(std::int64_t channels) {
  std::int64_t rounded = std::max<std::int64_t>(8, (channels + 4) / 8 * 8);
  if (10 * rounded < 9 * channels) rounded += 8;
  return rounded;
}

// An optional 1x1 expansion, a depthwise convolution, optional
// squeeze-and-excitation on a quarter of the expanded channels, and a linear
// 1x1 projection, with a residual connection when the unit keeps the shape.
Block inverted_residual_unit(const InvertedResidualSetting& setting, std::int64_t in_channels) {
  const std::int64_t expanded = setting.expanded_channels;
  Block main;
  if (expanded != in_channels) {
    main->push_back(conv_without_bias(in_channels, expanded, 1, 1));
    main->push_back(mobilenet_batch_norm(expanded));
    append_activation(main, setting.hardswish);
  }
  main->push_back(
      conv_without_bias(expanded, expanded, setting.kernel_size, setting.stride, expanded));
  main->push_back(mobilenet_batch_norm(expanded));
  append_activation(main, setting.hardswish);
  if (setting.squeeze_excitation) {
    main->push_back(SqueezeExcitation(expanded, round_to_multiple_of_8(expanded / 4)));
  }
  main->push_back(conv_without_bias(expanded, setting.out_channels, 1, 1));
  main->push_back(mobilenet_batch_norm(setting.out_channels));

  if (setting.stride == 1 && in_channels == setting.out_channels) {
    return Block(Residual(main, Block(nullptr), /*relu_after_sum=*/false));
  }
  return main;
}

nn::Sequential build_mobilenetv3(const std::vector<InvertedResidualSetting>& units,
                                 std::int64_t last_features, const InputShape& input,
                                 std::int64_t classes) {
  constexpr std::int64_t kStrideTwoMinimumSize = 64;
  const std::int64_t stem_stride =
      (input.height >= kStrideTwoMinimumSize && input.width >= kStrideTwoMinimumSize) ? 2 : 1;

  nn::Sequential model;
  Block stem(conv_without_bias(input.channels, kMobileNetV3StemChannels, 3, stem_stride),
             mobilenet_batch_norm(kMobileNetV3StemChannels));
  append_activation(stem, /*hardswish=*/true);
  model->push_back(stem);

  std::int64_t channels = kMobileNetV3StemChannels;
  for (const InvertedResidualSetting& setting : units) {
    model->push_back(inverted_residual_unit(setting, channels));
    channels = setting.out_channels;
  }

  const std::int64_t last_conv_channels = 6 * channels;
  Block last_conv(conv_without_bias(channels, last_conv_channels, 1, 1),
                  mobilenet_batch_norm(last_conv_channels));
  append_activation(last_conv, /*hardswish=*/true);
  model->push_back(last_conv);

  model->push_back(Block(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(),
                         nn::Linear(last_conv_channels, last_features), Hardswish(),
                         nn::Dropout(0.2)));
  model->push_back(Block(nn::Linear(last_features, classes)));
  return model;
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {
      "vgg5",     "vgg5-nobn", "vgg11",           "vgg16",
      "resnet18", "resnet50",  "mobilenetv3-small", "mobilenetv3-large"};
  return names;
}

torch::nn::Sequential build_model(const std::string& name, const InputShape& input,
                                  std::int64_t classes) {
  if (name == "vgg5") return build_vgg5(input, classes, /*batch_norm=*/true);
  // Without BatchNorm, PiPar's micro-batches compute exactly the update of
  // the whole batch, which the equivalence tests rely on.
  if (name == "vgg5-nobn") return build_vgg5(input, classes, /*batch_norm=*/false);
  if (name == "vgg11") return build_vgg(kVgg11Layers, input, classes);
  if (name == "vgg16") return build_vgg(kVgg16Layers, input, classes);
  if (name == "resnet18") return build_resnet(ResidualKind::kBasic, {2, 2, 2, 2}, input, classes);
  if (name == "resnet50") {
    return build_resnet(ResidualKind::kBottleneck, {3, 4, 6, 3}, input, classes);
  }
  if (name == "mobilenetv3-small") {
    return build_mobilenetv3(kMobileNetV3SmallUnits, /*last_features=*/1024, input, classes);
  }
  if (name == "mobilenetv3-large") {
    return build_mobilenetv3(kMobileNetV3LargeUnits, /*last_features=*/1280, input, classes);
  }
  std::string available;
  for (const std::string& known : model_names()) {
    available += (available.empty() ? "" : ", ") + known;
  }
  throw InputError("unknown model '" + name + "'; available: " + available);
}

torch::nn::Sequential slice_blocks(const torch::nn::Sequential& model, std::size_t first,
                                   std::size_t last) {
  torch::nn::Sequential part;
  auto block = model->begin() + static_cast<std::ptrdiff_t>(first);
  for (std::size_t i = first; i < last; ++i, ++block) part->push_back(*block);
  return part;
}

void check_cut_point(const std::string& model_name, int cut, std::size_t block_count) {
  const int last_cut = static_cast<int>(block_count) - 1;
  if (cut < 1 || cut > last_cut) {
    throw InputError("invalid --cut " + std::to_string(cut) + ": " + model_name + " has " +
                     std::to_string(block_count) + " blocks, so the cut point must be from 1 to " +
                     std::to_string(last_cut));
  }
}

}  // namespace pipar

namespace pipar {
namespace {

// Counts, while it exists, the FLOPs of the convolutions and matrix products
// that the current thread runs through the ATen dispatcher: 2 per
// multiply-add. It observes operators, not modules, so the count does not
// depend on how a block nests or orders its modules: Conv1d/2d/3d modules call
// aten::convolution, and Linear calls aten::addmm for a 2-D input with bias
// and aten::matmul otherwise. Only the outermost of these operators counts,
// so aten::linear, which calls aten::addmm or aten::matmul, counts once, as
// does a convolution kernel that runs matrix products inside. A thread can
// have only one counter at a time.
class FlopCounter {
 public:
  FlopCounter() {
    flops_ = 0;
    depth_ = 0;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                             .needsInputs(true)
                                             .needsOutputs(true)
                                             .scopes({at::RecordScope::FUNCTION}));
  }
  ~FlopCounter() { at::removeCallback(handle_); }
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;

  std::int64_t flops() const { return flops_; }

 private:
  // Multiply-adds per output element, carried from the start of an operator
  // to its end, where the output is known. It is 0 for a nested operator.
  struct Context : at::ObserverContext {
    explicit Context(std::int64_t value) : multiply_adds_per_output(value) {}
    std::int64_t multiply_adds_per_output;
  };

  static bool is_counted(const char* name) {
    for (const char* counted :
         {"aten::convolution", "aten::linear", "aten::addmm", "aten::matmul", "aten::mm"}) {
      if (std::strcmp(name, counted) == 0) return true;
    }
    return false;
  }

  // Each output element of a matrix product takes as many multiply-adds as
  // the inner dimension: the last one of the first matrix, which is argument
  // 1 of addmm(bias, a, b) and argument 0 of the others. A convolution weight
  // is (out, in / groups, k...), so each output element takes weight.numel()
  // / out multiply-adds, groups included. A transposed convolution's weight
  // is (in, out / groups, k...) instead, and each input element takes
  // weight.numel() / in.
  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& function) {
    const char* name = function.name();
    if (!is_counted(name)) return nullptr;
    if (depth_++ > 0) return std::make_unique<Context>(0);
    const auto inputs = function.inputs();
    if (std::strcmp(name, "aten::convolution") != 0) {
      const bool addmm = std::strcmp(name, "aten::addmm") == 0;
      return std::make_unique<Context>(inputs[addmm ? 1 : 0].toTensor().sizes().back());
    }
    const torch::Tensor weight = inputs[1].toTensor();
    const std::int64_t per_element = weight.numel() / weight.size(0);
    const bool transposed = inputs[6].toBool();
    if (!transposed) return std::make_unique<Context>(per_element);
    flops_ += 2 * per_element * inputs[0].toTensor().numel();
    return std::make_unique<Context>(0);
  }

  static void on_end(const at::RecordFunction& function, at::ObserverContext* context) {
    if (context == nullptr) return;
    --depth_;
    const std::int64_t per_output = static_cast<Context*>(context)->multiply_adds_per_output;
    if (per_output == 0) return;
    flops_ += 2 * per_output * function.outputs().at(0).toTensor().numel();
  }

  static thread_local std::int64_t flops_;
  static thread_local int depth_;  // counted operators running, outermost included
  at::CallbackHandle handle_;
};

thread_local std::int64_t FlopCounter::flops_ = 0;
thread_local int FlopCounter::depth_ = 0;

}  // namespace

std::vector<BlockInfo> describe_blocks(torch::nn::Sequential& model, const InputShape& input) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<BlockInfo> blocks;
  torch::Tensor activation = torch::zeros({1, input.channels, input.height, input.width});
  for (auto& block : *model) {
    BlockInfo info;
    {
      FlopCounter counter;
      activation = block.forward(activation);
      info.forward_flops = counter.flops();
    }
    for (const auto& parameter : block.ptr()->parameters()) info.parameters += parameter.numel();
    info.output_shape.assign(activation.sizes().begin() + 1, activation.sizes().end());
    info.output_bytes = activation.numel() * static_cast<std::int64_t>(sizeof(float));
    blocks.push_back(info);
  }
  model->train(was_training);
  return blocks;
}

}  // namespace pipar
