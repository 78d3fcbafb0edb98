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

}  // namespace pipar
