// Declaration and validation of the `pipar train` options.
#include "pipar/options.hpp"

#include <CLI/CLI.hpp>

#include <sstream>

#include "pipar/error.hpp"

namespace pipar {
namespace {

template <typename Value>
std::string to_text(const Value& value) {
  std::ostringstream stream;
  stream << value;
  return stream.str();
}

std::string to_text(const std::vector<int>& values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + std::to_string(values[i]);
  return text;
}

// Parses an option that takes an integer or "auto".
void parse_int_or_auto(const std::string& option, const std::string& text, int& value, bool& automatic) {
  automatic = text == "auto";
  if (automatic) return;
  std::size_t used = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw CLI::ValidationError(option, "expected an integer or auto, got '" + text + "'");
  }
}

// Parses "auto", one integer, or one integer per client separated by
// commas; a list sets `per_client` and `value` to its first entry.
void parse_per_client_or_auto(const std::string& option, const std::string& text, int& value,
                              bool& automatic, std::vector<int>& per_client) {
  per_client.clear();
  if (text.find(',') == std::string::npos) {
    parse_int_or_auto(option, text, value, automatic);
    return;
  }
  automatic = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    bool entry_auto = false;
    int entry = 0;
    parse_int_or_auto(option, text.substr(start, end - start), entry, entry_auto);
    if (entry_auto) throw CLI::ValidationError(option, "auto applies to every client, not to one");
    per_client.push_back(entry);
    start = end + 1;
  }
  value = per_client.front();
}

std::string to_text(const std::vector<double>& values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + to_text(values[i]);
  return text;
}

// Checks that a per-client list has 0, 1 or `clients` values, each valid.
template <typename Valid>
void check_per_client(const std::string& option, const std::vector<double>& values, int clients,
                      Valid&& valid, const std::string& requirement) {
  if (values.size() > 1 && static_cast<int>(values.size()) != clients) {
    throw InputError(option + " has " + std::to_string(values.size()) + " values but there are " +
                     std::to_string(clients) + " clients; give one value for all clients or one "
                     "per client");
  }
  for (double value : values) {
    if (!valid(value)) {
      throw InputError("invalid " + option + " " + to_text(value) + "; " + requirement);
    }
  }
}

}  // namespace

int TrainOptions::effective_micro_batches() const { return scheme == "pipar" ? micro_batches : 1; }

bool TrainOptions::emulates_links() const {
  return !uplink_mbps.empty() || !downlink_mbps.empty() || !latency_ms.empty() ||
         !bandwidth_trace.empty() || half_duplex;
}

double TrainOptions::per_client(const std::vector<double>& values, int client, double fallback) {
  if (values.empty()) return fallback;
  if (values.size() == 1) return values[0];
  return values.at(static_cast<std::size_t>(client - 1));
}

std::string TrainOptions::resolved_data_dir() const {
  return data_dir.empty() ? "/usr/share/datasets/" + dataset : data_dir;
}

std::vector<std::pair<std::string, std::string>> TrainOptions::to_key_values() const {
  return {
      {"scheme", scheme},
      {"model", model},
      {"dataset", dataset},
      {"data_dir", resolved_data_dir()},
      {"augment", augment ? "true" : "false"},
      {"cut", cut_auto ? "auto" : client_cuts.empty() ? to_text(cut) : to_text(client_cuts)},
      {"micro_batches", micro_batches_auto        ? "auto"
                        : !client_micro_batches.empty() && scheme == "pipar" ? to_text(client_micro_batches)
                                                  : to_text(effective_micro_batches())},
      {"aps_cuts", to_text(aps_min_cut) + "-" + (aps_max_cut > 0 ? to_text(aps_max_cut) : "")},
      {"aps_micro_batches", to_text(aps_micro_batches)},
      {"batch_size", to_text(batch_size)},
      {"rounds", to_text(rounds)},
      {"local_epochs", to_text(local_epochs)},
      {"learning_rate", to_text(learning_rate)},
      {"momentum", to_text(momentum)},
      {"seed", to_text(seed)},
      {"samples_per_client", to_text(samples_per_client)},
      {"partition", partition},
      {"dirichlet_alpha", to_text(dirichlet_alpha)},
      {"shard_sizes", to_text(std::vector<double>(shard_sizes.begin(), shard_sizes.end()))},
      {"test_samples", to_text(test_samples)},
      {"output", output},
      {"threads", to_text(threads)},
      {"uplink_mbps", to_text(uplink_mbps)},
      {"downlink_mbps", to_text(downlink_mbps)},
      {"latency_ms", to_text(latency_ms)},
      {"half_duplex", half_duplex ? "true" : "false"},
      {"bandwidth_trace", bandwidth_trace},
      {"client_slowdown", to_text(client_slowdown)},
      {"trace", trace},
      {"progress_poll_us", to_text(progress_poll_us)},
      {"wait_policy", wait_policy},
      {"log_level", log_level},
  };
}

void add_train_options(CLI::App& app, TrainOptions& options) {
  // A later occurrence of an option overrides an earlier one, so wrapper
  // scripts can pass defaults and let the user's arguments win.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--scheme", options.scheme,
                 "Training scheme: pipar (pipelined split training), sfl (SplitFed v1), "
                 "sl (vanilla split learning, one client at a time) or fl (FedAvg)")
      ->check(CLI::IsMember({"pipar", "sfl", "sl", "fl"}))
      ->capture_default_str();
  app.add_option("--model", options.model,
                 "DNN to train, as a chain of blocks (vgg5-nobn: VGG-5 without BatchNorm)")
      // The names of pipar::model_names(), which this file cannot call because
      // pipar_core has no LibTorch. test_model.cpp checks that each is accepted.
      ->check(CLI::IsMember({"vgg5", "vgg5-nobn", "vgg11", "vgg16", "resnet18", "resnet50",
                             "mobilenetv3-small", "mobilenetv3-large"}))
      ->capture_default_str();
  app.add_option("--dataset", options.dataset,
                 "Data set: fashion-mnist, mnist (IDX files), cifar-10, cifar-100 (binary "
                 "version), svhn (cropped digits, .mat), or synthetic-28 (1x28x28) and "
                 "synthetic-32 (3x32x32), generated without files; see docs/datasets.md")
      // The names of pipar::dataset_names(), which this file cannot call because
      // pipar_core has no LibTorch. test_dataset.cpp checks that each is accepted.
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar-10", "cifar-100", "svhn",
                             "synthetic-28", "synthetic-32"}))
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "Folder with the data set's files (synthetic data sets have none) "
                 "[default: /usr/share/datasets/<dataset>]");
  app.add_flag("--augment", options.augment,
               "Randomly crop (after 4 pixels of zero padding) and flip the training images of "
               "each batch, seeded by --seed; colour data sets only, and no flips for svhn "
               "[default: off]");
  app.add_option_function<std::string>(
         "--cut",
         [&options](const std::string& text) {
           parse_per_client_or_auto("--cut", text, options.cut, options.cut_auto,
                                    options.client_cuts);
         },
         "Cut point P: the clients run blocks 1..P, the server P+1..L; one value for all "
         "clients, one per client (split schemes but SL), or auto: chosen per client by "
         "profiling (PiPar only) [default: 2]")
      ->type_name("INT|LIST|auto");
  app.add_option_function<std::string>(
         "--micro-batches",
         [&options](const std::string& text) {
           options.micro_batches_given = true;
           parse_per_client_or_auto("--micro-batches", text, options.micro_batches,
                                    options.micro_batches_auto, options.client_micro_batches);
         },
         "Micro-batches N per batch for --scheme pipar; must divide --batch-size (the other "
         "schemes use 1); one value for all clients, one per client, or auto: chosen per "
         "client by profiling [default: 4]")
      ->type_name("INT|LIST|auto");
  app.add_option_function<std::string>(
         "--aps-cuts",
         [&options](const std::string& text) {
           const auto dash = text.find('-');
           bool automatic = false;
           parse_int_or_auto("--aps-cuts", text.substr(0, dash), options.aps_min_cut, automatic);
           options.aps_max_cut = options.aps_min_cut;
           if (dash != std::string::npos) {
             const std::string last = text.substr(dash + 1);
             if (last.empty()) options.aps_max_cut = 0;
             else parse_int_or_auto("--aps-cuts", last, options.aps_max_cut, automatic);
           }
           if (automatic) throw CLI::ValidationError("--aps-cuts", "expected cut points, not auto");
         },
         "Cut points that --cut auto may choose, as MIN-MAX, MIN- or one value "
         "[default: 1 to the model's last cut point]")
      ->type_name("RANGE");
  app.add_option("--aps-micro-batches", options.aps_micro_batches,
                 "Micro-batch counts that --micro-batches auto may choose; values that do not "
                 "divide --batch-size are skipped [default: 1 and the divisors of the batch size "
                 "up to min(batch size / 2, 100)]")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--batch-size", options.batch_size, "Samples per batch and client")
      ->capture_default_str();
  app.add_option("--rounds", options.rounds, "Training rounds; each ends with FedAvg")
      ->capture_default_str();
  app.add_option("--local-epochs", options.local_epochs,
                 "Passes over each client's shard per round")
      ->capture_default_str();
  app.add_option("--lr", options.learning_rate, "SGD learning rate")->capture_default_str();
  app.add_option("--momentum", options.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--seed", options.seed,
                 "Seed of the weights, the partition and the shuffling")
      ->capture_default_str();
  app.add_option("--samples-per-client", options.samples_per_client,
                 "Training samples per client, to shorten a run (0: the whole shard)")
      ->capture_default_str();
  app.add_option("--partition", options.partition,
                 "How training samples are split among clients: iid (equal random shards) or "
                 "dirichlet (non-IID by label, see --dirichlet-alpha)")
      ->check(CLI::IsMember({"iid", "dirichlet"}))
      ->capture_default_str();
  app.add_option("--shard-sizes", options.shard_sizes,
                 "Training samples of each client's IID shard, one value per client, for "
                 "unequal shards [default: equal shards of the whole training set]")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--dirichlet-alpha", options.dirichlet_alpha,
                 "Concentration of the Dirichlet split: small values give each client few "
                 "classes, large values approach IID")
      ->capture_default_str();
  app.add_option("--test-samples", options.test_samples,
                 "Test-set samples evaluated after each round (0: all)")
      ->capture_default_str();
  app.add_option("--output", options.output, "HDF5 results file, written by rank 0")
      ->capture_default_str();
  app.add_option("--threads", options.threads,
                 "LibTorch intra-op threads per rank (0: the node's cores divided "
                 "among its ranks)")
      ->capture_default_str();
  app.add_option("--uplink-mbps", options.uplink_mbps,
                 "Emulated client-to-server bandwidth in Mbit/s: one value for all clients "
                 "or one per client [default: unlimited]")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--downlink-mbps", options.downlink_mbps,
                 "Emulated server-to-client bandwidth in Mbit/s, like --uplink-mbps")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--latency-ms", options.latency_ms,
                 "Emulated one-way link latency in milliseconds, per client or for all [default: 0]")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--half-duplex", options.half_duplex,
               "Emulated links carry one direction at a time [default: full duplex]");
  app.add_option("--bandwidth-trace", options.bandwidth_trace,
                 "CSV file of bandwidth changes: time_s,client,uplink_mbps,downlink_mbps, with "
                 "time in seconds since training started and client 0 for all clients");
  app.add_option("--client-slowdown", options.client_slowdown,
                 "Device emulation: each client compute stage takes this many times its CPU time "
                 "(>= 1), one value for all clients or one per client [default: 1]")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--trace", options.trace,
                 "Write the run's events as Chrome trace JSON to this file (opens in Perfetto)");
  app.add_option("--progress-poll-us", options.progress_poll_us,
                 "Longest sleep, in microseconds, of the MPI progress thread while "
                 "no message moves")
      ->capture_default_str();
  app.add_option("--wait-policy", options.wait_policy,
                 "How a rank waits for a message: poll (lowest latency, keeps its core busy), "
                 "sleep (frees the core), or auto: poll when the node has a core per rank")
      ->check(CLI::IsMember({"auto", "poll", "sleep"}))
      ->capture_default_str();
  app.add_option("--log-level", options.log_level,
                 "error, warning, info or debug; ranks other than 0 log info lines "
                 "only at debug")
      ->check(CLI::IsMember({"error", "warning", "info", "debug"}))
      ->capture_default_str();
}

void validate_train_options(const TrainOptions& options, int world_size) {
  if (world_size < 2) {
    throw InputError("pipar train needs at least 2 MPI ranks (rank 0 is the server, ranks 1..K "
                     "the clients) but the world size is " +
                     std::to_string(world_size) + "; launch it with mpirun -n K+1, for example "
                     "mpirun -n 5 for four clients");
  }
  if (options.batch_size < 1) {
    throw InputError("invalid --batch-size " + std::to_string(options.batch_size) +
                     "; use a positive number of samples");
  }
  if (options.scheme != "pipar" && options.micro_batches_given && options.micro_batches != 1 &&
      !options.micro_batches_auto) {
    throw InputError("--micro-batches " + std::to_string(options.micro_batches) +
                     " does not apply to --scheme " + options.scheme +
                     ", which sends whole batches; drop --micro-batches or use --scheme pipar");
  }
  std::vector<int> micro_batch_counts{options.effective_micro_batches()};
  if (options.scheme == "pipar" && !options.client_micro_batches.empty()) {
    micro_batch_counts = options.client_micro_batches;
  }
  for (const int micro_batches : micro_batch_counts) {
    if (micro_batches < 1 || micro_batches > options.batch_size) {
      throw InputError("invalid --micro-batches " + std::to_string(micro_batches) +
                       "; use a value from 1 to --batch-size (" +
                       std::to_string(options.batch_size) + ")");
    }
    if (options.batch_size % micro_batches != 0) {
      throw InputError("--micro-batches " + std::to_string(micro_batches) +
                       " does not divide --batch-size " + std::to_string(options.batch_size) +
                       "; choose a divisor of the batch size so that all micro-batches have "
                       "the same size");
    }
  }
  const int client_count = world_size - 1;
  for (const auto& [option, values] : {std::pair{"--cut", &options.client_cuts},
                                       std::pair{"--micro-batches", &options.client_micro_batches}}) {
    if (!values->empty() && static_cast<int>(values->size()) != client_count) {
      throw InputError(std::string(option) + " has " + std::to_string(values->size()) +
                       " values but there are " + std::to_string(client_count) +
                       " clients; give one value for all clients or one per client");
    }
  }
  if (!options.shard_sizes.empty()) {
    if (options.partition != "iid") {
      throw InputError("--shard-sizes sets IID shards but --partition is " + options.partition +
                       "; drop --shard-sizes or use --partition iid");
    }
    if (static_cast<int>(options.shard_sizes.size()) != client_count) {
      throw InputError("--shard-sizes has " + std::to_string(options.shard_sizes.size()) +
                       " values but there are " + std::to_string(client_count) +
                       " clients; give one size per client");
    }
    for (std::int64_t size : options.shard_sizes) {
      if (size < 1) {
        throw InputError("invalid --shard-sizes value " + std::to_string(size) +
                         "; give every client at least 1 sample");
      }
    }
  }
  if (options.scheme == "sl" && !options.client_cuts.empty()) {
    throw InputError("--scheme sl hands one client part from client to client, so every client "
                     "needs the same cut point; give one --cut value");
  }
  if (options.uses_aps() && options.scheme != "pipar") {
    throw InputError("--cut auto and --micro-batches auto choose PiPar's parameters, but the "
                     "scheme is " + options.scheme + "; use --scheme pipar or give numbers");
  }
  if (options.aps_min_cut < 1 || (options.aps_max_cut != 0 && options.aps_max_cut < options.aps_min_cut)) {
    throw InputError("invalid --aps-cuts " + std::to_string(options.aps_min_cut) + "-" +
                     std::to_string(options.aps_max_cut) + "; give MIN-MAX with 1 <= MIN <= MAX, "
                     "for example 1-3");
  }
  for (int count : options.aps_micro_batches) {
    if (count < 1) {
      throw InputError("invalid --aps-micro-batches value " + std::to_string(count) +
                       "; use positive micro-batch counts, for example 1,2,4,5,10");
    }
  }
  if (options.rounds < 1) {
    throw InputError("invalid --rounds " + std::to_string(options.rounds) +
                     "; use 1 or more");
  }
  if (options.local_epochs < 1) {
    throw InputError("invalid --local-epochs " + std::to_string(options.local_epochs) +
                     "; use 1 or more");
  }
  if (!(options.learning_rate > 0.0)) {
    throw InputError("invalid --lr " + to_text(options.learning_rate) + "; use a positive value");
  }
  if (options.momentum < 0.0 || options.momentum >= 1.0) {
    throw InputError("invalid --momentum " + to_text(options.momentum) +
                     "; use a value in [0, 1)");
  }
  if (options.samples_per_client < 0 || options.test_samples < 0) {
    throw InputError("invalid --samples-per-client " + std::to_string(options.samples_per_client) +
                     " or --test-samples " + std::to_string(options.test_samples) +
                     "; use 0 (all) or a positive count");
  }
  if (!(options.dirichlet_alpha > 0.0)) {
    throw InputError("invalid --dirichlet-alpha " + to_text(options.dirichlet_alpha) +
                     "; use a positive value, for example 0.5");
  }
  if (options.threads < 0) {
    throw InputError("invalid --threads " + std::to_string(options.threads) +
                     "; use 0 (automatic) or a positive count");
  }
  if (options.progress_poll_us < 1 || options.progress_poll_us > 1000000) {
    throw InputError("invalid --progress-poll-us " + std::to_string(options.progress_poll_us) +
                     "; use 1 to 1000000 microseconds");
  }
  const int clients = world_size - 1;
  check_per_client("--uplink-mbps", options.uplink_mbps, clients,
                   [](double value) { return value > 0.0; }, "use a positive bandwidth in Mbit/s");
  check_per_client("--downlink-mbps", options.downlink_mbps, clients,
                   [](double value) { return value > 0.0; }, "use a positive bandwidth in Mbit/s");
  check_per_client("--latency-ms", options.latency_ms, clients,
                   [](double value) { return value >= 0.0; }, "use a latency of 0 ms or more");
  check_per_client("--client-slowdown", options.client_slowdown, clients,
                   [](double value) { return value >= 1.0; },
                   "use a factor of 1 or more (1: the client computes at this machine's speed)");
  if (options.output.empty()) {
    throw InputError("--output is empty; name an HDF5 file to write, for example run.h5");
  }
}

}  // namespace pipar
