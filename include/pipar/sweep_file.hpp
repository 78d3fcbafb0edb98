// The sweep file of `pipar sweep`: a TOML file that declares a grid of
// training runs. docs/sweeps.md documents its format.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pipar/options.hpp"

namespace pipar {

// One training run of the grid, repeated `repetitions` times.
struct SweepPoint {
  int index = 0;    // position in the expanded grid, from 0
  int clients = 0;  // K: the point runs on world ranks 0..K
  int measured_rounds = 0;  // rounds after the warm-up rounds
  // `pipar train` options of the point, parsed from `arguments`. Its rounds
  // include the sweep's warm-up rounds.
  TrainOptions options;
  std::vector<std::string> arguments;  // --name=value, as `pipar train` takes them
  // Canonical text of every parameter, "clients=4 cut=2 ...", sorted by name.
  // Two points with the same key train the same way.
  std::string key;
  // The parameters that vary over the grid, for log lines and tables.
  std::string label;
};

struct SweepDefinition {
  std::string path;  // the sweep file as given
  std::string text;  // its contents
  std::string name;  // [sweep] name, or the file name without .toml
  std::string output;  // [sweep] output, or empty
  int repetitions = 1;
  int warmup_rounds = 0;
  std::vector<SweepPoint> points;
  // Grid points dropped because they train exactly like an earlier one, for
  // example --micro-batches values of a scheme that sends whole batches.
  int duplicates = 0;
};

// Parses sweep file `text` (read from `path`) and expands its grid.
// `default_clients` is the number of clients of points whose file sets no
// `clients`. `overrides` are `pipar train` arguments of the form
// --name=value that apply to every point and take precedence, such as
// --threads=2. Throws InputError naming the file, the line and the fix for a
// TOML syntax error, an unknown key or a value `pipar train` rejects.
// The checks that need the world size or the model are left to the caller.
SweepDefinition parse_sweep(const std::string& text, const std::string& path, int default_clients,
                            const std::vector<std::string>& overrides);

}  // namespace pipar
