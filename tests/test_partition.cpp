// Tests of the IID partition.
#include "pipar/partition.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

TEST(MixSeed, DistinctInputsDistinctSeeds) {
  EXPECT_NE(pipar::mix_seed(1, 0, 1), pipar::mix_seed(1, 1, 0));
  EXPECT_NE(pipar::mix_seed(1, 2), pipar::mix_seed(2, 2));
  EXPECT_EQ(pipar::mix_seed(5, 6, 7), pipar::mix_seed(5, 6, 7));
}

}  // namespace
