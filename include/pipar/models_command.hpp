// `pipar models`: the blocks of a model, to help choose a cut point.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace pipar {

struct ModelsOptions {
  std::string model = "vgg5";
  std::string dataset = "fashion-mnist";  // sets the input shape and the classes
  std::string input;         // "CxHxW" to override the data set's input shape, or empty
  std::int64_t classes = 0;  // to override the data set's classes, or 0
};

void add_models_options(CLI::App& app, ModelsOptions& options);

// Prints one row per block to stdout: parameters, output shape, output bytes
// per sample (what crosses the link when the cut point is after the block)
// and forward FLOPs per sample. Throws InputError for an unknown model or an
// invalid --input or --classes.
void run_models(const ModelsOptions& options);

}  // namespace pipar
