// `pipar models`: a table of a model's blocks.
#include "pipar/models_command.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "pipar/dataset.hpp"
#include "pipar/error.hpp"
#include "pipar/model.hpp"

namespace pipar {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text;
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

// Parses --input "CxHxW", e.g. "3x32x32", with every size positive.
InputShape parse_input_shape(const std::string& text) {
  long long channels = 0;
  long long height = 0;
  long long width = 0;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%lldx%lldx%lld%c", &channels, &height, &width, &rest) != 3 ||
      channels <= 0 || height <= 0 || width <= 0) {
    throw InputError("invalid --input '" + text +
                     "': expected channels x height x width, e.g. 3x32x32");
  }
  return InputShape{channels, height, width};
}

}  // namespace

void add_models_options(CLI::App& app, ModelsOptions& options) {
  app.add_option("--model", options.model, "Model to describe")
      ->check(CLI::IsMember(model_names()))
      ->capture_default_str();
  app.add_option("--dataset", options.dataset, "Data set whose input shape and classes to use")
      ->check(CLI::IsMember({"fashion-mnist", "mnist"}))
      ->capture_default_str();
  app.add_option("--input", options.input,
                 "Input shape CxHxW, e.g. 3x32x32, in place of the data set's");
  app.add_option("--classes", options.classes,
                 "Number of classes, in place of the data set's (0: the data set's)");
}

void run_models(const ModelsOptions& options) {
  const DatasetSpec spec = dataset_spec(options.dataset);
  const InputShape input = options.input.empty() ? spec.input : parse_input_shape(options.input);
  if (options.classes < 0) {
    throw InputError("invalid --classes " + std::to_string(options.classes) +
                     "; use a positive number, or 0 for the data set's");
  }
  const std::int64_t classes = options.classes > 0 ? options.classes : spec.classes;
  const std::string source = options.input.empty() ? spec.name : "--input " + options.input;
  torch::nn::Sequential model = build_model(options.model, input, classes);
  const std::vector<BlockInfo> blocks = describe_blocks(model, input);

  std::printf("# %s for %s: input %lldx%lldx%lld, %lld classes, %zu blocks\n", options.model.c_str(),
              source.c_str(), static_cast<long long>(input.channels),
              static_cast<long long>(input.height), static_cast<long long>(input.width),
              static_cast<long long>(classes), blocks.size());
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
