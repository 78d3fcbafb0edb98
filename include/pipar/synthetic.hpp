// A seeded synthetic image data set, generated in memory, for tests and
// benchmarks that must run without data files.
//
// Each class has a pattern: the sum of two sinusoidal gratings with their
// own orientation, spatial frequency and phase, weighted per channel (for
// colour images, so classes differ in colour too). Each grating is averaged
// with its mirror image, so patterns are symmetric left to right and a
// horizontally flipped sample is still a sample of its class.
//
// A sample of class c is c's pattern shifted by up to kSyntheticMaxShift
// pixels in each direction, scaled by a random contrast, plus a random
// brightness offset and pixel noise, rounded to bytes. The patterns are what
// a model can learn. Shift, contrast, brightness and noise keep the task from
// being trivial.
#pragma once

#include <cstdint>

#include "pipar/image_set.hpp"

namespace pipar {

// Largest shift of a class pattern, in pixels, in each direction.
constexpr int kSyntheticMaxShift = 3;

struct SyntheticConfig {
  std::int64_t channels = 3;
  std::int64_t rows = 32;
  std::int64_t cols = 32;
  int classes = 10;
  std::int64_t count = 0;  // samples to generate
};

enum class SyntheticSplit { kTrain, kTest };

// Generates `config.count` samples with labels drawn uniformly from
// 0..classes-1. The class patterns depend on `seed` only, so the training
// and the test split share them. Every sample depends on the seed, the split
// and its index, so the two splits have different samples, and the first n
// samples are the same whatever the count. Throws
// std::invalid_argument for a non-positive size, count or class count, or
// more than 256 classes.
ImageSet generate_synthetic(const SyntheticConfig& config, std::uint64_t seed,
                            SyntheticSplit split);

}  // namespace pipar
