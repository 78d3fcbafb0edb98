// `pipar models`: a table of a model's blocks.
#include "pipar/models_command.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "pipar/dataset.hpp"
#include "pipar/model.hpp"

namespace pipar {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text;
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

}  // namespace

void add_models_options(CLI::App& app, ModelsOptions& options) {
  app.add_option("--model", options.model, "Model to describe")
      ->check(CLI::IsMember({"vgg5", "vgg5-nobn"}))
      ->capture_default_str();
  app.add_option("--dataset", options.dataset, "Data set whose input shape and classes to use")
      ->check(CLI::IsMember({"fashion-mnist", "mnist"}))
      ->capture_default_str();
}

void run_models(const ModelsOptions& options) {
  const DatasetSpec spec = dataset_spec(options.dataset);
  torch::nn::Sequential model = build_model(options.model, spec.input, spec.classes);
  const std::vector<BlockInfo> blocks = describe_blocks(model, spec.input);

  std::printf("# %s for %s: input %lldx%lldx%lld, %lld classes, %zu blocks\n", options.model.c_str(),
              spec.name.c_str(), static_cast<long long>(spec.input.channels),
              static_cast<long long>(spec.input.height), static_cast<long long>(spec.input.width),
              static_cast<long long>(spec.classes), blocks.size());
  std::printf("# a cut point P puts blocks 1..P on the clients; the output of block P crosses the link\n");
  std::printf("# %5s %12s %14s %22s %24s\n", "block", "parameters", "output shape",
              "output bytes/sample", "forward FLOPs/sample");
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const BlockInfo& block = blocks[i];
    std::printf("  %5zu %12lld %14s %22lld %24lld\n", i + 1, static_cast<long long>(block.parameters),
                shape_text(block.output_shape).c_str(), static_cast<long long>(block.output_bytes),
                static_cast<long long>(block.forward_flops));
  }
}

}  // namespace pipar
