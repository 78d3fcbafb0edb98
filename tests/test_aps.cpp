// Tests of the profiles that APS derives from one node's timed runs.
#include <gtest/gtest.h>

#include <stdexcept>

#include "pipar/aps.hpp"

namespace {

using pipar::NodeTimings;
using pipar::StageRun;

// Timings of two blocks at 10 and 50 samples, two runs each. Block 1's
// runs are CPU-bound (CPU time equals wall time) and block 2's forward
// waited: its wall time is twice its CPU time.
NodeTimings two_block_timings() {
  NodeTimings timings;
  timings.small = 10;
  timings.large = 50;
  timings.threads = 1;
  // Indexed [size][block][repeat]. Where two runs differ, the second is faster.
  timings.forward = {{{{0.013, 0.013}, {0.011, 0.011}}, {{0.004, 0.002}, {0.004, 0.002}}},
                     {{{0.055, 0.055}, {0.051, 0.051}}, {{0.020, 0.010}, {0.020, 0.010}}}};
  timings.backward = {{{{0.021, 0.021}, {0.021, 0.021}}, {{0.002, 0.002}, {0.002, 0.002}}},
                      {{{0.101, 0.101}, {0.101, 0.101}}, {{0.010, 0.010}, {0.010, 0.010}}}};
  timings.steps = {{0.003, 0.001}, {0.0, 0.0}};
  return timings;
}

TEST(EmulatedSeconds, WallTimeWithoutEmulation) {
  EXPECT_DOUBLE_EQ(pipar::emulated_seconds(StageRun{0.5, 0.2}, 1.0, 1), 0.5);
}

TEST(EmulatedSeconds, StretchesCpuTimePerThread) {
  EXPECT_DOUBLE_EQ(pipar::emulated_seconds(StageRun{0.5, 0.2}, 20.0, 1), 4.0);
  EXPECT_DOUBLE_EQ(pipar::emulated_seconds(StageRun{0.5, 0.2}, 20.0, 2), 2.0);
}

TEST(EmulatedSeconds, NeverShorterThanWallTime) {
  EXPECT_DOUBLE_EQ(pipar::emulated_seconds(StageRun{0.5, 0.02}, 2.0, 1), 0.5);
}

TEST(DeviceProfile, FitsLineThroughFastestRuns) {
  const pipar::DeviceProfile server = pipar::device_profile(two_block_timings(), 1.0);
  ASSERT_EQ(server.blocks.size(), 2U);
  // Block 1 forward: (0.051 - 0.011) / 40 per sample, intercept 0.001.
  EXPECT_NEAR(server.blocks[0].forward_s_per_sample, 0.001, 1e-12);
  // Block 1 backward: (0.101 - 0.021) / 40, intercept 0.001.
  EXPECT_NEAR(server.blocks[0].backward_s_per_sample, 0.002, 1e-12);
  // Block 2 forward on wall time: (0.020 - 0.004) / 40, intercept 0.
  EXPECT_NEAR(server.blocks[1].forward_s_per_sample, 0.0004, 1e-12);
  EXPECT_NEAR(server.blocks[1].backward_s_per_sample, 0.0002, 1e-12);
  // Intercepts 0.001, 0.001, 0 and 0, averaged over the 4 calls.
  EXPECT_NEAR(server.call_overhead_s, 0.0005, 1e-12);
  EXPECT_DOUBLE_EQ(server.blocks[0].step_s, 0.003);
  EXPECT_DOUBLE_EQ(server.blocks[1].step_s, 0.0);
}

TEST(DeviceProfile, EmulatedClientScalesCpuTime) {
  const pipar::DeviceProfile client = pipar::device_profile(two_block_timings(), 10.0);
  // CPU-bound block 1 is ten times the server's.
  EXPECT_NEAR(client.blocks[0].forward_s_per_sample, 0.01, 1e-12);
  EXPECT_NEAR(client.blocks[0].backward_s_per_sample, 0.02, 1e-12);
  // Block 2's forward counts its CPU time, half its wall time: 10 x 0.008 / 40.
  EXPECT_NEAR(client.blocks[1].forward_s_per_sample, 0.002, 1e-12);
  EXPECT_NEAR(client.call_overhead_s, 0.005, 1e-12);
  EXPECT_DOUBLE_EQ(client.blocks[0].step_s, 0.01);
}

TEST(NodeTimings, EncodeDecodeRoundTrip) {
  const NodeTimings original = two_block_timings();
  const NodeTimings decoded = pipar::decode_timings(pipar::encode_timings(original));
  EXPECT_EQ(decoded.small, original.small);
  EXPECT_EQ(decoded.large, original.large);
  EXPECT_EQ(decoded.threads, original.threads);
  ASSERT_EQ(decoded.forward.size(), 2U);
  ASSERT_EQ(decoded.forward[1].size(), 2U);
  ASSERT_EQ(decoded.forward[1][1].size(), 2U);
  EXPECT_DOUBLE_EQ(decoded.forward[1][1][0].wall_s, 0.020);
  EXPECT_DOUBLE_EQ(decoded.forward[1][1][0].cpu_s, 0.010);
  EXPECT_DOUBLE_EQ(decoded.backward[0][0][1].wall_s, 0.021);
  ASSERT_EQ(decoded.steps.size(), 2U);
  EXPECT_DOUBLE_EQ(decoded.steps[0].cpu_s, 0.001);
}

TEST(NodeTimings, SizesKeepTheirOwnPassCounts) {
  NodeTimings timings = two_block_timings();
  for (auto& block : timings.forward[1]) block.resize(1);
  for (auto& block : timings.backward[1]) block.resize(1);
  const NodeTimings decoded = pipar::decode_timings(pipar::encode_timings(timings));
  ASSERT_EQ(decoded.forward[0][1].size(), 2U);
  ASSERT_EQ(decoded.forward[1][1].size(), 1U);
  ASSERT_EQ(decoded.backward[1][0].size(), 1U);
  EXPECT_DOUBLE_EQ(decoded.backward[1][0][0].wall_s, 0.101);
  EXPECT_DOUBLE_EQ(decoded.steps[0].wall_s, 0.003);
}

TEST(NodeTimings, ZeroPassesThrows) {
  NodeTimings timings = two_block_timings();
  for (auto& block : timings.forward[0]) block.clear();
  for (auto& block : timings.backward[0]) block.clear();
  // The encoder reads the pass count off block 1, which has none.
  EXPECT_THROW(pipar::decode_timings(pipar::encode_timings(timings)), std::invalid_argument);
}

TEST(ProfileSizes, SmallestMicroBatchAndHalfTheBatch) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(100, {1, 2, 5, 10, 20});
  EXPECT_EQ(sizes.small, 5);
  EXPECT_EQ(sizes.large, 50);
}

TEST(ProfileSizes, IgnoresNonDivisors) {
  // 30 and 40 do not divide 100; 20 is the largest count that does.
  EXPECT_EQ(pipar::profile_sizes(100, {1, 20, 30, 40}).small, 5);
}

TEST(ProfileSizes, LargeAtLeastTwiceSmall) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(100, {1, 2});
  EXPECT_EQ(sizes.small, 50);
  EXPECT_EQ(sizes.large, 100);
}

TEST(ProfileSizes, CapLimitsTheLargeSize) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(100, {1, 2, 5, 10, 20}, 21);
  EXPECT_EQ(sizes.small, 5);
  EXPECT_EQ(sizes.large, 21);
}

TEST(ProfileSizes, CapNeverGoesBelowTwiceSmall) {
  EXPECT_EQ(pipar::profile_sizes(100, {1, 2, 5, 10, 20}, 3).large, 10);
}

TEST(ProfileSizes, WholeBatchOnlyStillGivesTwoSizes) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(100, {1});
  EXPECT_EQ(sizes.small, 50);
  EXPECT_EQ(sizes.large, 100);
}

TEST(ProfileSizes, BatchOfOne) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(1, {1});
  EXPECT_EQ(sizes.small, 1);
  EXPECT_EQ(sizes.large, 2);
}

TEST(ProfileSizes, NoDivisorUsesTenthOfBatch) {
  const pipar::ProfileSizes sizes = pipar::profile_sizes(100, {3, 7});
  EXPECT_EQ(sizes.small, 10);
  EXPECT_EQ(sizes.large, 50);
}

TEST(NodeTimings, TruncatedTextThrows) {
  std::string encoded = pipar::encode_timings(two_block_timings());
  encoded.resize(encoded.size() / 2);
  EXPECT_THROW(pipar::decode_timings(encoded), std::invalid_argument);
}

}  // namespace
