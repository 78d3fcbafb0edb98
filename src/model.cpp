// Model zoo: chains of blocks.
#include "pipar/model.hpp"

#include "pipar/error.hpp"

namespace pipar {
namespace {

namespace nn = torch::nn;

// 3x3 convolution with padding 1, BatchNorm (when `batch_norm` is set) and
// ReLU, then a 2x2 max-pool when `pool` is set.
Block conv_block(std::int64_t in_channels, std::int64_t out_channels, bool pool,
                 bool batch_norm) {
  Block block(
      nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/3).padding(1)));
  if (batch_norm) block->push_back(nn::BatchNorm2d(out_channels));
  block->push_back(nn::ReLU());
  if (pool) block->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(/*kernel_size=*/2)));
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

}  // namespace

torch::nn::Sequential build_model(const std::string& name, const InputShape& input,
                                  std::int64_t classes) {
  if (name == "vgg5") return build_vgg5(input, classes, /*batch_norm=*/true);
  // Without BatchNorm, PiPar's micro-batches compute exactly the update of
  // the whole batch, which the equivalence tests rely on.
  if (name == "vgg5-nobn") return build_vgg5(input, classes, /*batch_norm=*/false);
  throw InputError("unknown model '" + name + "'; available: vgg5, vgg5-nobn");
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

// Multiply-adds of the conv and dense layers inside `block` for one sample,
// times 2; `input` and `output` are the block's tensors for a batch of 1.
std::int64_t count_flops(torch::nn::Module& block, torch::Tensor input) {
  std::int64_t flops = 0;
  torch::Tensor current = std::move(input);
  for (const auto& child : block.children()) {
    torch::Tensor next;
    if (auto* conv = child->as<torch::nn::Conv2d>()) {
      next = conv->forward(current);
      const auto& weight = conv->weight;  // (out, in / groups, kh, kw)
      flops += 2 * weight.numel() * next.size(2) * next.size(3);
    } else if (auto* linear = child->as<torch::nn::Linear>()) {
      next = linear->forward(current);
      flops += 2 * linear->weight.numel();
    } else if (auto* batch_norm = child->as<torch::nn::BatchNorm2d>()) {
      next = batch_norm->forward(current);
    } else if (auto* relu = child->as<torch::nn::ReLU>()) {
      next = relu->forward(current);
    } else if (auto* pool = child->as<torch::nn::MaxPool2d>()) {
      next = pool->forward(current);
    } else if (auto* flatten = child->as<torch::nn::Flatten>()) {
      next = flatten->forward(current);
    } else {
      throw std::invalid_argument("cannot count the FLOPs of module " + child->name());
    }
    current = next;
  }
  return flops;
}

}  // namespace

std::vector<BlockInfo> describe_blocks(torch::nn::Sequential& model, const InputShape& input) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<BlockInfo> blocks;
  torch::Tensor activation = torch::zeros({1, input.channels, input.height, input.width});
  for (auto& block : *model) {
    BlockInfo info;
    info.forward_flops = count_flops(*block.ptr(), activation);
    activation = block.forward(activation);
    for (const auto& parameter : block.ptr()->parameters()) info.parameters += parameter.numel();
    info.output_shape.assign(activation.sizes().begin() + 1, activation.sizes().end());
    info.output_bytes = activation.numel() * static_cast<std::int64_t>(sizeof(float));
    blocks.push_back(info);
  }
  model->train(was_training);
  return blocks;
}

}  // namespace pipar
