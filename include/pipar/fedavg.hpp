// Model state as flat tensors, and FedAvg over them.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pipar {

// A module's parameters and buffers in registration order, packed into one
// float32 tensor (parameters and floating buffers such as BatchNorm running
// statistics) and one int64 tensor (integer buffers such as BatchNorm's
// num_batches_tracked). Both are 1-D and contiguous, ready for MPI.
struct FlatState {
  torch::Tensor floating;
  torch::Tensor integer;
};

FlatState flatten_state(const torch::nn::Module& module);

// Copies `state` into the module's parameters and buffers. Throws
// std::invalid_argument when the element counts do not match the module.
void load_state(torch::nn::Module& module, const FlatState& state);

// Joins the state of a client part and of a server part into the state of
// the full model, client blocks first.
FlatState concat_state(const FlatState& front, const FlatState& back);

// Joins the states of blocks 1..P (`front`, with `front_parameters`
// parameter elements) and of blocks P+1..L (`back`) into the state that
// flatten_state returns for the whole chain: the parameters of both parts,
// then their floating buffers, then their integer buffers. Unlike
// concat_state, the layout does not depend on P, so the states of clients
// with different cut points can be averaged.
FlatState join_state(const FlatState& front, std::int64_t front_parameters, const FlatState& back,
                     std::int64_t back_parameters);

// Number of parameter elements of a module (all floating point).
std::int64_t parameter_count(const torch::nn::Module& module);

// Splits a full model's state into the part with `front_floating` and
// `front_integer` elements and the rest.
std::pair<FlatState, FlatState> split_state(const FlatState& full, std::int64_t front_floating,
                                            std::int64_t front_integer);

// FedAvg: the average of `states` weighted by `weights` (sample counts).
// Floating values are summed in float64; integer values are rounded to the
// nearest integer. Throws std::invalid_argument for empty input, mismatched
// sizes or weights that are not positive.
FlatState weighted_average(const std::vector<FlatState>& states,
                           const std::vector<std::int64_t>& weights);

}  // namespace pipar
