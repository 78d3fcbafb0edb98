// Options of `pipar train`, declared once with CLI11 and checked in one place.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace pipar {

// Defaults follow the PiPar authors' released experiments: batch 100, SGD
// with learning rate 0.01 and momentum 0.9, one aggregation per local epoch,
// equal IID shards.
struct TrainOptions {
  std::string scheme = "pipar";
  std::string model = "vgg5";
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // empty: /usr/share/datasets/<dataset>
  bool augment = false;  // random crops and flips of colour training images
  int cut = 2;
  int micro_batches = 4;
  bool micro_batches_given = false;  // set when the command line names it
  // Automated parameter selection (APS): "--cut auto" and "--micro-batches
  // auto" choose P and N per client from profiled stage times.
  bool cut_auto = false;
  bool micro_batches_auto = false;
  // "--cut 1,3" and "--micro-batches 4,5": one value per client, in client
  // order; empty when one value applies to every client.
  std::vector<int> client_cuts;
  std::vector<int> client_micro_batches;
  int aps_min_cut = 1;
  int aps_max_cut = 0;  // 0: the model's last cut point
  std::vector<int> aps_micro_batches;  // empty: divisors of the batch size up to min(B / 2, 100), and 1
  int batch_size = 100;
  int rounds = 5;
  int local_epochs = 1;
  double learning_rate = 0.01;
  double momentum = 0.9;
  std::uint64_t seed = 1;
  std::int64_t samples_per_client = 0;  // 0: the whole shard
  std::string partition = "iid";        // iid or dirichlet
  std::vector<std::int64_t> shard_sizes;  // iid shards of these sizes, one per client; empty: equal
  double dirichlet_alpha = 0.5;
  std::int64_t test_samples = 0;        // 0: the whole test set
  std::string output = "pipar-train.h5";
  int threads = 0;  // 0: divide the node's cores among its ranks

  // Emulated edge: each list has one value for every client or one per
  // client. An empty bandwidth list means unlimited bandwidth.
  std::vector<double> uplink_mbps;
  std::vector<double> downlink_mbps;
  std::vector<double> latency_ms;
  bool half_duplex = false;
  std::string bandwidth_trace;
  std::vector<double> client_slowdown;  // empty: 1, no device emulation
  std::string trace;                    // Chrome trace JSON to write, or empty
  int progress_poll_us = 200;
  std::string wait_policy = "auto";  // auto, poll or sleep
  std::string log_level = "info";
  // Set by `pipar aps`: stop after APS has chosen, without training.
  bool plan_only = false;

  // The micro-batch count the scheme trains with: 1 for all but PiPar.
  int effective_micro_batches() const;

  // True when APS chooses the cut point or the micro-batch count.
  bool uses_aps() const { return cut_auto || micro_batches_auto; }

  // True when any link option is set, so messages cross emulated links.
  bool emulates_links() const;

  // The value of a per-client list for client 1..K: its own entry, the
  // single shared entry, or `fallback` for an empty list.
  static double per_client(const std::vector<double>& values, int client, double fallback);

  // The data folder after applying the default.
  std::string resolved_data_dir() const;

  // Every option as (name, value) text, in declaration order, for the
  // results metadata.
  std::vector<std::pair<std::string, std::string>> to_key_values() const;
};

// Registers every option on `app`, writing into `options`.
void add_train_options(CLI::App& app, TrainOptions& options);

// Checks the values that do not depend on the model or the data. Throws
// InputError naming the option, its value and the fix. `world_size` is the
// number of MPI ranks.
void validate_train_options(const TrainOptions& options, int world_size);

}  // namespace pipar
