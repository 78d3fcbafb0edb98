// Flat model state and FedAvg.
#include "pipar/fedavg.hpp"

#include <stdexcept>
#include <string>

namespace pipar {
namespace {

// Every parameter, then every buffer, of the module tree in registration
// order. The order is the same on every rank because every rank builds the
// same chain of blocks.
std::vector<torch::Tensor> state_tensors(const torch::nn::Module& module) {
  std::vector<torch::Tensor> tensors = module.parameters(/*recurse=*/true);
  for (const auto& buffer : module.buffers(/*recurse=*/true)) tensors.push_back(buffer);
  return tensors;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors, torch::ScalarType dtype) {
  std::vector<torch::Tensor> pieces;
  for (const auto& tensor : tensors) pieces.push_back(tensor.detach().reshape(-1).to(dtype));
  if (pieces.empty()) return torch::empty({0}, torch::TensorOptions().dtype(dtype));
  return torch::cat(pieces).contiguous();
}

}  // namespace

FlatState flatten_state(const torch::nn::Module& module) {
  std::vector<torch::Tensor> floating;
  std::vector<torch::Tensor> integer;
  for (const auto& tensor : state_tensors(module)) {
    (tensor.is_floating_point() ? floating : integer).push_back(tensor);
  }
  return FlatState{flatten(floating, torch::kFloat32), flatten(integer, torch::kInt64)};
}

void load_state(torch::nn::Module& module, const FlatState& state) {
  torch::NoGradGuard no_grad;
  std::int64_t floating_offset = 0;
  std::int64_t integer_offset = 0;
  for (auto& tensor : state_tensors(module)) {
    const bool is_floating = tensor.is_floating_point();
    const torch::Tensor& source = is_floating ? state.floating : state.integer;
    std::int64_t& offset = is_floating ? floating_offset : integer_offset;
    if (offset + tensor.numel() > source.numel()) {
      throw std::invalid_argument("model state has " + std::to_string(source.numel()) +
                                  " elements but the module needs more");
    }
    tensor.copy_(source.narrow(0, offset, tensor.numel()).view(tensor.sizes()));
    offset += tensor.numel();
  }
  if (floating_offset != state.floating.numel() || integer_offset != state.integer.numel()) {
    throw std::invalid_argument(
        "model state has " + std::to_string(state.floating.numel()) + " floating and " +
        std::to_string(state.integer.numel()) + " integer elements but the module has " +
        std::to_string(floating_offset) + " and " + std::to_string(integer_offset));
  }
}

FlatState concat_state(const FlatState& front, const FlatState& back) {
  return FlatState{torch::cat({front.floating, back.floating}),
                   torch::cat({front.integer, back.integer})};
}

FlatState join_state(const FlatState& front, std::int64_t front_parameters, const FlatState& back,
                     std::int64_t back_parameters) {
  const auto tail = [](const torch::Tensor& values, std::int64_t start) {
    return values.narrow(0, start, values.numel() - start);
  };
  return FlatState{torch::cat({front.floating.narrow(0, 0, front_parameters),
                               back.floating.narrow(0, 0, back_parameters),
                               tail(front.floating, front_parameters),
                               tail(back.floating, back_parameters)})
                       .contiguous(),
                   torch::cat({front.integer, back.integer}).contiguous()};
}

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters(/*recurse=*/true)) count += parameter.numel();
  return count;
}

std::pair<FlatState, FlatState> split_state(const FlatState& full, std::int64_t front_floating,
                                            std::int64_t front_integer) {
  FlatState front{full.floating.narrow(0, 0, front_floating).contiguous(),
                  full.integer.narrow(0, 0, front_integer).contiguous()};
  FlatState back{
      full.floating.narrow(0, front_floating, full.floating.numel() - front_floating).contiguous(),
      full.integer.narrow(0, front_integer, full.integer.numel() - front_integer).contiguous()};
  return {front, back};
}

FlatState weighted_average(const std::vector<FlatState>& states,
                           const std::vector<std::int64_t>& weights) {
  if (states.empty() || states.size() != weights.size()) {
    throw std::invalid_argument("FedAvg needs one weight per state, got " +
                                std::to_string(states.size()) + " states and " +
                                std::to_string(weights.size()) + " weights");
  }
  double total = 0.0;
  for (auto weight : weights) {
    if (weight <= 0) {
      throw std::invalid_argument("FedAvg weight " + std::to_string(weight) +
                                  " is not a positive sample count");
    }
    total += static_cast<double>(weight);
  }

  auto floating = torch::zeros_like(states[0].floating, torch::kFloat64);
  auto integer = torch::zeros_like(states[0].integer, torch::kFloat64);
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (states[i].floating.sizes() != states[0].floating.sizes() ||
        states[i].integer.sizes() != states[0].integer.sizes()) {
      throw std::invalid_argument("FedAvg state " + std::to_string(i) +
                                  " differs in size from state 0");
    }
    const double share = static_cast<double>(weights[i]) / total;
    floating.add_(states[i].floating.to(torch::kFloat64), share);
    integer.add_(states[i].integer.to(torch::kFloat64), share);
  }
  return FlatState{floating.to(torch::kFloat32).contiguous(),
                   integer.round().to(torch::kInt64).contiguous()};
}

}  // namespace pipar
