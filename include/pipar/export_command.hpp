// `pipar export`: the summary of every point of a sweep results file, as CSV
// or JSON for other tools.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace pipar {

struct ExportOptions {
  std::string results_file;
  std::string csv;   // path, "-" for stdout, or empty
  std::string json;  // path, "-" for stdout, or empty
};

void add_export_options(CLI::App& app, ExportOptions& options);

// Writes the summary table. With neither --csv nor --json it prints CSV to
// stdout. Throws InputError for a file that is not a sweep results file or an
// output that cannot be written.
void run_export(const ExportOptions& options);

}  // namespace pipar
