// DNNs as chains of blocks that can be cut at any block boundary.
//
// A block is a conv+BatchNorm+ReLU(+max-pool) unit, a residual unit or a
// classifier stage. With cut point P, a client runs blocks 1..P and the
// server blocks P+1..L.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace pipar {

struct InputShape {
  std::int64_t channels = 1;
  std::int64_t height = 28;
  std::int64_t width = 28;
};

// One block of a chain: a Sequential with a concrete forward, which is what
// lets a block be stored inside another Sequential.
class BlockImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor input) { return SequentialImpl::forward(input); }
};
TORCH_MODULE(Block);

// Names that build_model accepts: vgg5, vgg5-nobn (VGG-5 without
// BatchNorm), vgg11, vgg16, resnet18, resnet50, mobilenetv3-small and
// mobilenetv3-large.
const std::vector<std::string>& model_names();

// Builds `name` (one of model_names()) for `input` and `classes`, with
// weights drawn from LibTorch's global generator: seed it first
// (torch::manual_seed) so that every rank builds identical weights. Each
// element of the returned chain is one block. Throws InputError for an
// unknown model or an input it cannot take.
torch::nn::Sequential build_model(const std::string& name, const InputShape& input,
                                  std::int64_t classes);

// Returns blocks [first, last) of `model` as a new chain that shares the
// blocks' modules (and so their parameters) with `model`.
torch::nn::Sequential slice_blocks(const torch::nn::Sequential& model, std::size_t first,
                                   std::size_t last);

// Throws InputError unless 1 <= cut <= block_count - 1.
void check_cut_point(const std::string& model_name, int cut, std::size_t block_count);

}  // namespace pipar

namespace pipar {

// The size, output and cost of one block of a chain, for choosing a cut point.
struct BlockInfo {
  std::int64_t parameters = 0;
  std::vector<std::int64_t> output_shape;  // per sample, e.g. {32, 14, 14}
  std::int64_t output_bytes = 0;           // per sample, 4 bytes per float32 element
  std::int64_t forward_flops = 0;          // per sample: 2 per multiply-add of conv and dense layers
};

// Describes each block of `model` for one sample of `input`, by running a
// forward pass on zeros in eval mode. Only convolutions (grouped ones
// included) and matrix products, which dense layers run, count as FLOPs,
// wherever they sit in a block's module tree.
std::vector<BlockInfo> describe_blocks(torch::nn::Sequential& model, const InputShape& input);

}  // namespace pipar
