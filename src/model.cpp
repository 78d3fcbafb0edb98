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
