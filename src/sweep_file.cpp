// Reading a sweep file with toml++ and expanding its grid into points whose
// options `pipar train`'s own CLI11 parser checks.
#include "pipar/sweep_file.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "pipar/error.hpp"

namespace pipar {
namespace {

// Keys of [base] and [grid] that are not `pipar train` options.
constexpr const char* kClientsKey = "clients";

// `pipar train` options that a sweep manages itself, so a sweep file may not
// set them: the sweep writes one results file and logs at its own level.
const std::set<std::string>& managed_options() {
  static const std::set<std::string> names{"output", "trace", "log-level", "help"};
  return names;
}

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

// The text of a scalar TOML value as `pipar train` takes it on its command
// line. Floats keep 15 significant digits, so 0.1 stays "0.1".
std::string scalar_text(const toml::node& node, const std::string& context) {
  if (const auto* value = node.as_string()) return value->get();
  if (const auto* value = node.as_integer()) return std::to_string(value->get());
  if (const auto* value = node.as_boolean()) return value->get() ? "true" : "false";
  if (const auto* value = node.as_floating_point()) {
    std::ostringstream text;
    text << std::setprecision(15) << value->get();
    return text.str();
  }
  throw InputError(context + ": expected a string, a number or a boolean");
}

// The text of one option value. An array is a per-client list, such as
// uplink-mbps = [10, 5, 5, 5], and becomes "10,5,5,5".
std::string value_text(const toml::node& node, const std::string& context) {
  const auto* list = node.as_array();
  if (list == nullptr) return scalar_text(node, context);
  std::string text;
  for (std::size_t i = 0; i < list->size(); ++i) {
    text += (i ? "," : "") + scalar_text(*list->get(i), context);
  }
  return text;
}

// Checks that `key` names an option that a sweep point may set.
void check_key(const std::string& key, const std::string& context, CLI::App& app) {
  if (key == kClientsKey) return;
  if (managed_options().count(key) != 0) {
    throw InputError(context + ": '" + key + "' cannot be set in a sweep file, because pipar "
                     "sweep sets it for every point; remove it (use pipar sweep --output for the "
                     "results file)");
  }
  if (app.get_option_no_throw("--" + key) == nullptr) {
    std::string known;
    for (const CLI::Option* option : app.get_options()) {
      const std::string name = option->get_name(false, true);
      if (name.rfind("--", 0) != 0 || managed_options().count(name.substr(2)) != 0) continue;
      known += (known.empty() ? "" : ", ") + name.substr(2);
    }
    throw InputError(context + ": unknown key '" + key + "'; use clients or an option of pipar "
                     "train without its dashes: " + known);
  }
}

struct Settings {
  std::string name;
  std::string output;
  int repetitions = 1;
  int warmup_rounds = 0;
};

std::int64_t read_count(const toml::node& node, const std::string& context, std::int64_t minimum) {
  const auto* value = node.as_integer();
  if (value == nullptr || value->get() < minimum) {
    throw InputError(context + ": expected an integer of at least " + std::to_string(minimum));
  }
  return value->get();
}

Settings read_settings(const toml::table* table, const std::string& path) {
  Settings settings;
  settings.name = std::filesystem::path(path).stem().string();
  if (table == nullptr) return settings;
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    const std::string context = where(path, key.source()) + ": [sweep] " + name;
    if (name == "name") {
      settings.name = scalar_text(node, context);
    } else if (name == "output") {
      settings.output = scalar_text(node, context);
    } else if (name == "repetitions") {
      settings.repetitions = static_cast<int>(read_count(node, context, 1));
    } else if (name == "warmup-rounds") {
      settings.warmup_rounds = static_cast<int>(read_count(node, context, 0));
    } else {
      throw InputError(where(path, key.source()) + ": unknown key '" + name +
                       "' in [sweep]; use name, output, repetitions or warmup-rounds");
    }
  }
  return settings;
}

// A grid axis: one option and the values it takes, in file order.
struct Axis {
  std::string key;
  std::vector<std::string> values;
};

std::vector<Axis> read_grid(const toml::table* table, const std::string& path, CLI::App& app) {
  std::vector<Axis> axes;
  if (table == nullptr) return axes;
  for (const auto& [key, node] : *table) {
    Axis axis{std::string(key.str()), {}};
    const std::string context = where(path, key.source()) + ": [grid] " + axis.key;
    check_key(axis.key, context, app);
    const auto* values = node.as_array();
    if (values == nullptr || values->empty()) {
      throw InputError(context + ": expected a non-empty array of the values to sweep, for "
                       "example " + axis.key + " = [1, 2]");
    }
    for (const toml::node& value : *values) axis.values.push_back(value_text(value, context));
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::map<std::string, std::string> read_base(const toml::table* table, const std::string& path,
                                             CLI::App& app) {
  std::map<std::string, std::string> base;
  if (table == nullptr) return base;
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    const std::string context = where(path, key.source()) + ": [base] " + name;
    check_key(name, context, app);
    base[name] = value_text(node, context);
  }
  return base;
}

// Resolves relative file and folder options against the sweep file's folder,
// so that a sweep file and the trace next to it work from any directory.
void resolve_paths(std::map<std::string, std::string>& parameters, const std::string& path) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  for (const char* option : {"bandwidth-trace", "data-dir"}) {
    const auto found = parameters.find(option);
    if (found == parameters.end() || found->second.empty()) continue;
    const std::filesystem::path value(found->second);
    if (value.is_relative()) found->second = (folder / value).lexically_normal().string();
  }
}

// Drops parameters that the point's scheme ignores, so that points which
// train the same way get the same key: every scheme but PiPar sends whole
// batches, and FL trains the whole model on the clients.
void drop_ignored_parameters(std::map<std::string, std::string>& parameters) {
  const auto scheme = parameters.find("scheme");
  const std::string name = scheme == parameters.end() ? TrainOptions{}.scheme : scheme->second;
  if (name != "pipar") parameters.erase("micro-batches");
  if (name == "fl") parameters.erase("cut");
}

int parse_clients(const std::string& text, const std::string& context) {
  std::size_t used = 0;
  int clients = 0;
  try {
    clients = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || clients < 1) {
    throw InputError(context + ": invalid clients '" + text + "'; use a positive number of clients");
  }
  return clients;
}

// Parses the point's arguments with `pipar train`'s own options.
TrainOptions parse_point_options(const std::vector<std::string>& arguments,
                                 const std::string& context) {
  TrainOptions options;
  CLI::App app;
  add_train_options(app, options);
  std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());  // CLI11 parses from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    throw InputError(context + ": " + error.what());
  }
  return options;
}

SweepPoint make_point(std::map<std::string, std::string> parameters, int default_clients,
                      const Settings& settings, const std::vector<std::string>& overrides,
                      const std::vector<Axis>& axes, const std::string& path) {
  drop_ignored_parameters(parameters);
  resolve_paths(parameters, path);
  SweepPoint point;
  std::string label;
  for (const Axis& axis : axes) {
    const auto found = parameters.find(axis.key);
    if (found != parameters.end()) label += (label.empty() ? "" : " ") + axis.key + "=" + found->second;
  }
  const auto clients = parameters.find(kClientsKey);
  point.clients = clients == parameters.end() ? default_clients
                                              : parse_clients(clients->second, path + ": clients");
  parameters[kClientsKey] = std::to_string(point.clients);

  for (const auto& [name, value] : parameters) {
    point.key += (point.key.empty() ? "" : " ") + name + "=" + value;
    if (name != kClientsKey) point.arguments.push_back("--" + name + "=" + value);
  }
  for (const std::string& argument : overrides) {
    point.key += " " + argument.substr(2);
    point.arguments.push_back(argument);
  }
  point.label = label.empty() ? point.key : label;
  point.options = parse_point_options(point.arguments, path + ": point " + point.label);
  point.measured_rounds = point.options.rounds;
  point.options.rounds += settings.warmup_rounds;
  return point;
}

}  // namespace

SweepDefinition parse_sweep(const std::string& text, const std::string& path, int default_clients,
                            const std::vector<std::string>& overrides) {
  toml::table document;
  try {
    document = toml::parse(text, path);
  } catch (const toml::parse_error& error) {
    throw InputError(where(path, error.source()) + ": invalid TOML: " +
                     std::string(error.description()));
  }
  for (const auto& [key, node] : document) {
    const std::string name(key.str());
    if ((name != "sweep" && name != "base" && name != "grid") || !node.is_table()) {
      throw InputError(where(path, key.source()) + ": unexpected '" + name +
                       "'; a sweep file has the tables [sweep], [base] and [grid] only");
    }
  }

  TrainOptions unused;
  CLI::App app;
  add_train_options(app, unused);
  const Settings settings = read_settings(document["sweep"].as_table(), path);
  const std::map<std::string, std::string> base = read_base(document["base"].as_table(), path, app);
  const std::vector<Axis> axes = read_grid(document["grid"].as_table(), path, app);

  SweepDefinition sweep;
  sweep.path = path;
  sweep.text = text;
  sweep.name = settings.name;
  sweep.output = settings.output;
  sweep.repetitions = settings.repetitions;
  sweep.warmup_rounds = settings.warmup_rounds;

  // The grid is the Cartesian product of the axes, with the last axis varying
  // fastest. The axes come in the order toml++ iterates a table, by key.
  std::vector<std::size_t> position(axes.size(), 0);
  std::set<std::string> keys;
  while (true) {
    std::map<std::string, std::string> parameters = base;
    for (std::size_t a = 0; a < axes.size(); ++a) parameters[axes[a].key] = axes[a].values[position[a]];
    SweepPoint point = make_point(std::move(parameters), default_clients, settings, overrides, axes, path);
    if (keys.insert(point.key).second) {
      point.index = static_cast<int>(sweep.points.size());
      sweep.points.push_back(std::move(point));
    } else {
      ++sweep.duplicates;
    }

    std::size_t axis = axes.size();
    while (axis > 0) {
      --axis;
      if (++position[axis] < axes[axis].values.size()) break;
      position[axis] = 0;
      if (axis == 0) return sweep;
    }
    if (axes.empty()) return sweep;
  }
}

}  // namespace pipar
