// `pipar export`: reads the points of a sweep results file and writes one
// row per point: its index, its options and its summary columns.
#include "pipar/export_command.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "pipar/error.hpp"
#include "pipar/results.hpp"

namespace pipar {
namespace {

struct PointRow {
  std::int64_t index = 0;
  std::map<std::string, std::string> options;
  std::vector<std::pair<std::string, double>> summary;  // in file order
};

std::vector<std::string> split_columns(const std::string& text) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    const auto first = name.find_first_not_of(' ');
    const auto last = name.find_last_not_of(' ');
    if (first != std::string::npos) names.push_back(name.substr(first, last - first + 1));
    start = end + 1;
  }
  return names;
}

std::vector<PointRow> read_points(const std::string& path) {
  const ResultsFile file(path, ResultsFile::Mode::kRead);
  if (!file.exists("/points")) {
    throw InputError("results file " + path + " has no /points group, so it was not written by "
                     "pipar sweep; export reads sweep results files");
  }
  std::vector<PointRow> rows;
  for (const std::string& name : file.list_groups("/points")) {
    const std::string group = "/points/" + name;
    PointRow row;
    row.index = static_cast<std::int64_t>(file.read_number_attribute(group, "index"));
    for (const std::string& option : file.attribute_names(group + "/options")) {
      row.options[option] = file.read_string_attribute(group + "/options", option);
    }
    const std::vector<std::string> columns =
        split_columns(file.read_string_attribute(group + "/summary", "columns"));
    const std::vector<double> values = file.read_doubles(group + "/summary");
    if (columns.size() != values.size()) {
      throw InputError("results file " + path + ": " + group + "/summary has " +
                       std::to_string(values.size()) + " values but " +
                       std::to_string(columns.size()) + " column names");
    }
    for (std::size_t i = 0; i < columns.size(); ++i) row.summary.emplace_back(columns[i], values[i]);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Quotes a CSV field when it contains a comma, a quote or a line break
// (RFC 4180), as per-client lists such as "10,5,5,5" do.
std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\n\r") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.10g", value);
  return text;
}

void write_csv(std::ostream& out, const std::vector<PointRow>& rows) {
  std::set<std::string> option_names;
  std::vector<std::string> summary_names;
  for (const PointRow& row : rows) {
    for (const auto& option : row.options) option_names.insert(option.first);
    for (const auto& column : row.summary) {
      if (std::find(summary_names.begin(), summary_names.end(), column.first) == summary_names.end()) {
        summary_names.push_back(column.first);
      }
    }
  }
  out << "point";
  for (const std::string& name : option_names) out << "," << csv_field(name);
  for (const std::string& name : summary_names) out << "," << csv_field(name);
  out << "\n";
  for (const PointRow& row : rows) {
    out << row.index;
    for (const std::string& name : option_names) {
      const auto found = row.options.find(name);
      out << "," << csv_field(found == row.options.end() ? "" : found->second);
    }
    for (const std::string& name : summary_names) {
      std::string value;
      for (const auto& column : row.summary) {
        if (column.first == name) value = format_number(column.second);
      }
      out << "," << value;
    }
    out << "\n";
  }
}

void write_json(std::ostream& out, const std::vector<PointRow>& rows, const std::string& path) {
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (const PointRow& row : rows) {
    nlohmann::ordered_json point;
    point["point"] = row.index;
    point["options"] = row.options;
    nlohmann::ordered_json summary = nlohmann::ordered_json::object();
    for (const auto& [name, value] : row.summary) summary[name] = value;
    point["summary"] = summary;
    points.push_back(point);
  }
  nlohmann::ordered_json document;
  document["results_file"] = path;
  document["points"] = points;
  out << document.dump(2) << "\n";
}

template <typename Write>
void write_to(const std::string& target, Write&& write) {
  if (target == "-") {
    write(std::cout);
    std::cout.flush();
    return;
  }
  std::ofstream file(target);
  if (!file) {
    throw InputError("cannot write " + target + "; choose a writable path");
  }
  write(file);
  if (!file.flush()) throw InputError("failed to write " + target);
}

}  // namespace

void add_export_options(CLI::App& app, ExportOptions& options) {
  app.add_option("results_file", options.results_file, "HDF5 results file of pipar sweep")
      ->required();
  app.add_option("--csv", options.csv, "Write the summary as CSV to this file ('-': stdout)");
  app.add_option("--json", options.json, "Write the summary as JSON to this file ('-': stdout)");
}

void run_export(const ExportOptions& options) {
  const std::vector<PointRow> rows = read_points(options.results_file);
  const std::string csv = options.csv.empty() && options.json.empty() ? "-" : options.csv;
  if (!csv.empty()) write_to(csv, [&](std::ostream& out) { write_csv(out, rows); });
  if (!options.json.empty()) {
    write_to(options.json, [&](std::ostream& out) { write_json(out, rows, options.results_file); });
  }
}

}  // namespace pipar
