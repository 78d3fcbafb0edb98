// Assignment of training samples to clients.
#pragma once

#include <cstdint>
#include <vector>

namespace pipar {

// Splits sample indices 0..sample_count-1 into `clients` IID shards: a
// permutation seeded by `seed`, cut into contiguous parts whose sizes differ
// by at most one. Every index is in exactly one shard. Throws InputError when
// there are fewer samples than clients.
std::vector<std::vector<std::int64_t>> iid_partition(std::int64_t sample_count, int clients,
                                                     std::uint64_t seed);

// Splits a seeded permutation of 0..sample_count-1 into IID shards of the
// given sizes, one per client; samples beyond their sum go to no client.
// Throws InputError for a size below 1 or sizes that add up to more than
// sample_count.
std::vector<std::vector<std::int64_t>> sized_iid_partition(std::int64_t sample_count,
                                                           const std::vector<std::int64_t>& sizes,
                                                           std::uint64_t seed);

// Splits samples by label into `clients` non-IID shards. For every class, a
// Dirichlet(alpha) draw over the clients gives the share of that class's
// samples each client gets. Small alpha gives each client few classes, while
// large alpha approaches an IID split. Every sample is in exactly one shard.
// A draw that leaves a client without samples is repeated with the next seed,
// up to 100 times. After that, InputError names alpha and the fix.
std::vector<std::vector<std::int64_t>> dirichlet_partition(const std::vector<std::uint8_t>& labels,
                                                           int classes, int clients, double alpha,
                                                           std::uint64_t seed);

// Returns a seeded permutation of `indices` (the per-round shuffle of a shard).
std::vector<std::int64_t> shuffled(std::vector<std::int64_t> indices, std::uint64_t seed);

// Mixes several values into one seed, so that each (run seed, round, client)
// gets an independent stream.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0);

}  // namespace pipar
