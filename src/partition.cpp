// IID partition of a data set across clients.
#include "pipar/partition.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "pipar/error.hpp"

namespace pipar {

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  // SplitMix64 finalizer over each input: nearby inputs give unrelated seeds.
  auto mix = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  return mix(mix(mix(seed) ^ a) ^ b);
}

std::vector<std::int64_t> shuffled(std::vector<std::int64_t> indices, std::uint64_t seed) {
  // NOTE: std::shuffle's algorithm is left to the standard library, so the
  // same seed gives the same order with libstdc++ but may not with another.
  std::mt19937_64 generator(seed);
  std::shuffle(indices.begin(), indices.end(), generator);
  return indices;
}

std::vector<std::vector<std::int64_t>> iid_partition(std::int64_t sample_count, int clients,
                                                     std::uint64_t seed) {
  if (clients < 1 || sample_count < clients) {
    throw InputError("cannot split " + std::to_string(sample_count) + " samples among " +
                     std::to_string(clients) + " clients; use fewer clients or more samples");
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(sample_count));
  std::iota(order.begin(), order.end(), 0);
  order = shuffled(std::move(order), seed);

  std::vector<std::vector<std::int64_t>> shards(static_cast<std::size_t>(clients));
  const std::int64_t base = sample_count / clients;
  const std::int64_t remainder = sample_count % clients;
  auto next = order.begin();
  for (int client = 0; client < clients; ++client) {
    const std::int64_t size = base + (client < remainder ? 1 : 0);
    shards[static_cast<std::size_t>(client)].assign(next, next + size);
    next += size;
  }
  return shards;
}

std::vector<std::vector<std::int64_t>> sized_iid_partition(std::int64_t sample_count,
                                                           const std::vector<std::int64_t>& sizes,
                                                           std::uint64_t seed) {
  std::int64_t total = 0;
  for (std::size_t client = 0; client < sizes.size(); ++client) {
    if (sizes[client] < 1) {
      throw InputError("invalid shard size " + std::to_string(sizes[client]) + " for client " +
                       std::to_string(client + 1) + "; give every client at least 1 sample");
    }
    total += sizes[client];
  }
  if (sizes.empty() || total > sample_count) {
    throw InputError("shard sizes add up to " + std::to_string(total) + " samples but the training "
                     "set has " + std::to_string(sample_count) + "; give smaller --shard-sizes");
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(sample_count));
  std::iota(order.begin(), order.end(), 0);
  order = shuffled(std::move(order), seed);

  std::vector<std::vector<std::int64_t>> shards;
  auto next = order.begin();
  for (std::int64_t size : sizes) {
    shards.emplace_back(next, next + size);
    next += size;
  }
  return shards;
}

namespace {

// One Dirichlet(alpha) draw of `clients` shares: normalised Gamma(alpha, 1)
// samples.
std::vector<double> dirichlet_shares(int clients, double alpha, std::mt19937_64& generator) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> shares(static_cast<std::size_t>(clients));
  double total = 0.0;
  for (double& share : shares) {
    share = gamma(generator);
    total += share;
  }
  for (double& share : shares) share = total > 0.0 ? share / total : 1.0 / clients;
  return shares;
}

// Deals each class's shuffled samples out to the clients in proportion to
// one Dirichlet draw per class.
std::vector<std::vector<std::int64_t>> deal_by_label(const std::vector<std::uint8_t>& labels,
                                                     int classes, int clients, double alpha,
                                                     std::uint64_t seed) {
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    by_class.at(labels[i]).push_back(static_cast<std::int64_t>(i));
  }
  std::mt19937_64 generator(seed);
  std::vector<std::vector<std::int64_t>> shards(static_cast<std::size_t>(clients));
  for (auto& members : by_class) {
    std::shuffle(members.begin(), members.end(), generator);
    const std::vector<double> shares = dirichlet_shares(clients, alpha, generator);
    double cumulative = 0.0;
    std::size_t begin = 0;
    for (int client = 0; client < clients; ++client) {
      cumulative += shares[static_cast<std::size_t>(client)];
      const std::size_t end = client == clients - 1
                                  ? members.size()
                                  : std::min(members.size(), static_cast<std::size_t>(std::llround(
                                                                 cumulative * static_cast<double>(members.size()))));
      auto& shard = shards[static_cast<std::size_t>(client)];
      shard.insert(shard.end(), members.begin() + static_cast<std::ptrdiff_t>(begin),
                   members.begin() + static_cast<std::ptrdiff_t>(std::max(begin, end)));
      begin = std::max(begin, end);
    }
  }
  for (auto& shard : shards) std::sort(shard.begin(), shard.end());
  return shards;
}

}  // namespace

std::vector<std::vector<std::int64_t>> dirichlet_partition(const std::vector<std::uint8_t>& labels,
                                                           int classes, int clients, double alpha,
                                                           std::uint64_t seed) {
  if (!(alpha > 0.0)) {
    throw InputError("invalid Dirichlet alpha " + std::to_string(alpha) + "; use a positive value");
  }
  if (clients < 1 || static_cast<std::int64_t>(labels.size()) < clients) {
    throw InputError("cannot split " + std::to_string(labels.size()) + " samples among " +
                     std::to_string(clients) + " clients; use fewer clients or more samples");
  }
  constexpr int kMaxDraws = 100;
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    auto shards = deal_by_label(labels, classes, clients, alpha, mix_seed(seed, 0xD1, draw));
    const bool none_empty = std::none_of(shards.begin(), shards.end(),
                                         [](const auto& shard) { return shard.empty(); });
    if (none_empty) return shards;
  }
  throw InputError("a Dirichlet split with alpha " + std::to_string(alpha) + " left a client of " +
                   std::to_string(clients) + " without samples in " + std::to_string(kMaxDraws) +
                   " draws; use a larger alpha, fewer clients or more samples");
}

}  // namespace pipar
