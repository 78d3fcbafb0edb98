// Tests of the IID partition.
#include "pipar/partition.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "pipar/error.hpp"

namespace {

TEST(IidPartition, EverySampleInOneShard) {
  for (int clients : {1, 3, 4, 7}) {
    const auto shards = pipar::iid_partition(1003, clients, 42);
    ASSERT_EQ(shards.size(), static_cast<std::size_t>(clients));
    std::vector<std::int64_t> all;
    for (const auto& shard : shards) all.insert(all.end(), shard.begin(), shard.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), 1003u) << "clients=" << clients;
    for (std::int64_t i = 0; i < 1003; ++i) {
      ASSERT_EQ(all[static_cast<std::size_t>(i)], i) << "clients=" << clients;
    }
  }
}

TEST(IidPartition, ShardSizesDifferByAtMostOne) {
  const auto shards = pipar::iid_partition(1003, 4, 7);
  EXPECT_EQ(shards[0].size(), 251u);
  EXPECT_EQ(shards[1].size(), 251u);
  EXPECT_EQ(shards[2].size(), 251u);
  EXPECT_EQ(shards[3].size(), 250u);
}

TEST(IidPartition, SameSeedSameSplit) {
  EXPECT_EQ(pipar::iid_partition(500, 3, 9), pipar::iid_partition(500, 3, 9));
  EXPECT_NE(pipar::iid_partition(500, 3, 9), pipar::iid_partition(500, 3, 10));
}

TEST(IidPartition, TooFewSamplesRejected) {
  try {
    pipar::iid_partition(3, 4, 1);
    FAIL() << "expected InputError";
  } catch (const pipar::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("3 samples among 4 clients"), std::string::npos)
        << error.what();
  }
}

TEST(SizedIidPartition, ShardsHaveGivenSizesAndDisjointSamples) {
  const std::vector<std::int64_t> sizes{5, 1, 30, 12};
  const auto shards = pipar::sized_iid_partition(60, sizes, 9);
  ASSERT_EQ(shards.size(), sizes.size());
  std::set<std::int64_t> seen;
  for (std::size_t client = 0; client < shards.size(); ++client) {
    EXPECT_EQ(static_cast<std::int64_t>(shards[client].size()), sizes[client]) << "client " << client + 1;
    for (std::int64_t index : shards[client]) {
      EXPECT_GE(index, 0);
      EXPECT_LT(index, 60);
      EXPECT_TRUE(seen.insert(index).second) << "sample " << index << " in two shards";
    }
  }
  EXPECT_EQ(seen.size(), 48u);
}

TEST(SizedIidPartition, SameSeedSameSplit) {
  EXPECT_EQ(pipar::sized_iid_partition(100, {10, 20}, 4), pipar::sized_iid_partition(100, {10, 20}, 4));
  EXPECT_NE(pipar::sized_iid_partition(100, {10, 20}, 4), pipar::sized_iid_partition(100, {10, 20}, 5));
}

TEST(SizedIidPartition, OversizedTotalRejected) {
  try {
    pipar::sized_iid_partition(50, {30, 21}, 1);
    FAIL() << "expected InputError";
  } catch (const pipar::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("add up to 51 samples but the training set has 50"),
              std::string::npos)
        << error.what();
  }
}

TEST(SizedIidPartition, EmptyShardRejected) {
  EXPECT_THROW(pipar::sized_iid_partition(50, {10, 0}, 1), pipar::InputError);
}

TEST(MixSeed, DistinctInputsDistinctSeeds) {
  EXPECT_NE(pipar::mix_seed(1, 0, 1), pipar::mix_seed(1, 1, 0));
  EXPECT_NE(pipar::mix_seed(1, 2), pipar::mix_seed(2, 2));
  EXPECT_EQ(pipar::mix_seed(5, 6, 7), pipar::mix_seed(5, 6, 7));
}

}  // namespace

namespace {

std::vector<std::uint8_t> balanced_labels(std::size_t samples, int classes) {
  std::vector<std::uint8_t> labels(samples);
  for (std::size_t i = 0; i < samples; ++i) labels[i] = static_cast<std::uint8_t>(i % static_cast<std::size_t>(classes));
  return labels;
}

// Mean over clients of the share of a client's samples that its most common
// class makes up: 1 when every client has one class, 1/classes when IID.
double mean_majority_share(const std::vector<std::vector<std::int64_t>>& shards,
                           const std::vector<std::uint8_t>& labels, int classes) {
  double total = 0.0;
  for (const auto& shard : shards) {
    std::vector<int> counts(static_cast<std::size_t>(classes), 0);
    for (auto index : shard) counts[labels[static_cast<std::size_t>(index)]] += 1;
    total += static_cast<double>(*std::max_element(counts.begin(), counts.end())) /
             static_cast<double>(shard.size());
  }
  return total / static_cast<double>(shards.size());
}

TEST(DirichletPartition, EverySampleOnceNoClientEmpty) {
  const auto labels = balanced_labels(2000, 10);
  for (double alpha : {0.1, 0.5, 1.0, 100.0}) {
    for (int clients : {2, 5, 10}) {
      for (std::uint64_t seed : {1u, 2u, 3u}) {
        const auto shards = pipar::dirichlet_partition(labels, 10, clients, alpha, seed);
        ASSERT_EQ(shards.size(), static_cast<std::size_t>(clients));
        std::vector<int> seen(labels.size(), 0);
        for (const auto& shard : shards) {
          EXPECT_FALSE(shard.empty()) << "alpha " << alpha << ", clients " << clients << ", seed " << seed;
          for (auto index : shard) seen[static_cast<std::size_t>(index)] += 1;
        }
        for (std::size_t i = 0; i < seen.size(); ++i) {
          ASSERT_EQ(seen[i], 1) << "sample " << i << ", alpha " << alpha << ", clients " << clients
                                << ", seed " << seed;
        }
      }
    }
  }
}

TEST(DirichletPartition, SameSeedSameSplit) {
  const auto labels = balanced_labels(1000, 10);
  EXPECT_EQ(pipar::dirichlet_partition(labels, 10, 4, 0.5, 7),
            pipar::dirichlet_partition(labels, 10, 4, 0.5, 7));
  EXPECT_NE(pipar::dirichlet_partition(labels, 10, 4, 0.5, 7),
            pipar::dirichlet_partition(labels, 10, 4, 0.5, 8));
}

TEST(DirichletPartition, SmallAlphaSkewsLabels) {
  const auto labels = balanced_labels(5000, 10);
  const double skewed = mean_majority_share(pipar::dirichlet_partition(labels, 10, 5, 0.1, 3), labels, 10);
  const double mixed = mean_majority_share(pipar::dirichlet_partition(labels, 10, 5, 100.0, 3), labels, 10);
  // Alpha 0.1 gives most clients one or two dominant classes; alpha 100 is
  // close to IID, where the majority share is near 1/10.
  EXPECT_GT(skewed, 0.4);
  EXPECT_LT(mixed, 0.2);
}

TEST(DirichletPartition, ImpossibleSplitNamesAlpha) {
  const auto labels = balanced_labels(10, 10);
  try {
    pipar::dirichlet_partition(labels, 10, 10, 0.01, 1);
    FAIL() << "expected InputError";
  } catch (const pipar::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("use a larger alpha"), std::string::npos) << error.what();
  }
  EXPECT_THROW(pipar::dirichlet_partition(labels, 10, 2, 0.0, 1), pipar::InputError);
}

}  // namespace
