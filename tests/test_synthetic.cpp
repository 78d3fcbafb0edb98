// Tests of the synthetic data generator: determinism from the seed, distinct
// training and test samples, and class patterns that a simple classifier
// can learn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "pipar/synthetic.hpp"

namespace {

using pipar::ImageSet;
using pipar::SyntheticConfig;
using pipar::SyntheticSplit;

SyntheticConfig colour_config(std::int64_t count) {
  SyntheticConfig config;
  config.channels = 3;
  config.rows = 32;
  config.cols = 32;
  config.count = count;
  return config;
}

std::vector<std::uint8_t> image_of(const ImageSet& set, std::int64_t index) {
  const auto begin = set.pixels.begin() + index * set.image_bytes();
  return std::vector<std::uint8_t>(begin, begin + set.image_bytes());
}

TEST(SyntheticData, ShapeAndLabels) {
  const ImageSet set = pipar::generate_synthetic(colour_config(500), 7, SyntheticSplit::kTrain);

  EXPECT_EQ(set.count, 500);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.rows, 32);
  EXPECT_EQ(set.cols, 32);
  EXPECT_EQ(set.pixels.size(), 500u * 3 * 32 * 32);
  ASSERT_EQ(set.labels.size(), 500u);
  std::vector<int> per_class(10, 0);
  for (const std::uint8_t label : set.labels) {
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int label = 0; label < 10; ++label) EXPECT_GT(per_class[label], 20) << "class " << label;
}

TEST(SyntheticData, GrayscaleShape) {
  SyntheticConfig config;
  config.channels = 1;
  config.rows = 28;
  config.cols = 28;
  config.count = 20;
  const ImageSet set = pipar::generate_synthetic(config, 7, SyntheticSplit::kTest);

  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(set.rows, 28);
  EXPECT_EQ(set.cols, 28);
  EXPECT_EQ(set.pixels.size(), 20u * 28 * 28);
}

TEST(SyntheticData, SameSeedSameData) {
  const ImageSet first = pipar::generate_synthetic(colour_config(50), 11, SyntheticSplit::kTrain);
  const ImageSet second = pipar::generate_synthetic(colour_config(50), 11, SyntheticSplit::kTrain);

  EXPECT_TRUE(first.pixels == second.pixels);
  EXPECT_EQ(first.labels, second.labels);
}

TEST(SyntheticData, OtherSeedOtherData) {
  const ImageSet first = pipar::generate_synthetic(colour_config(50), 11, SyntheticSplit::kTrain);
  const ImageSet second = pipar::generate_synthetic(colour_config(50), 12, SyntheticSplit::kTrain);

  EXPECT_FALSE(first.pixels == second.pixels);
  EXPECT_NE(first.labels, second.labels);
}

TEST(SyntheticData, TrainAndTestDiffer) {
  const ImageSet train = pipar::generate_synthetic(colour_config(200), 11, SyntheticSplit::kTrain);
  const ImageSet test = pipar::generate_synthetic(colour_config(200), 11, SyntheticSplit::kTest);

  EXPECT_NE(train.labels, test.labels);
  for (std::int64_t i = 0; i < test.count; ++i) {
    const std::vector<std::uint8_t> image = image_of(test, i);
    for (std::int64_t j = 0; j < train.count; ++j) {
      ASSERT_NE(image, image_of(train, j)) << "test image " << i << " equals training image " << j;
    }
  }
}

TEST(SyntheticData, PrefixIndependentOfCount) {
  const ImageSet small = pipar::generate_synthetic(colour_config(10), 3, SyntheticSplit::kTest);
  const ImageSet large = pipar::generate_synthetic(colour_config(40), 3, SyntheticSplit::kTest);

  EXPECT_TRUE(std::equal(small.pixels.begin(), small.pixels.end(), large.pixels.begin()));
  EXPECT_TRUE(std::equal(small.labels.begin(), small.labels.end(), large.labels.begin()));
}

// A nearest-class-mean classifier fitted on training samples must classify
// test samples far better than chance (10%), so the splits share the class
// patterns and a model can learn them.
TEST(SyntheticData, TestSplitLearnableFromTrain) {
  const SyntheticConfig config = colour_config(2000);
  const ImageSet train = pipar::generate_synthetic(config, 5, SyntheticSplit::kTrain);
  const ImageSet test = pipar::generate_synthetic(config, 5, SyntheticSplit::kTest);
  const auto bytes = static_cast<std::size_t>(train.image_bytes());

  std::vector<std::vector<double>> means(10, std::vector<double>(bytes, 0.0));
  std::vector<int> counts(10, 0);
  for (std::int64_t i = 0; i < train.count; ++i) {
    const std::uint8_t label = train.labels[static_cast<std::size_t>(i)];
    ++counts[label];
    for (std::size_t p = 0; p < bytes; ++p) means[label][p] += train.pixels[i * bytes + p];
  }
  for (int label = 0; label < 10; ++label) {
    for (double& value : means[label]) value /= counts[label];
  }

  int correct = 0;
  for (std::int64_t i = 0; i < test.count; ++i) {
    int best = 0;
    double best_distance = std::numeric_limits<double>::max();
    for (int label = 0; label < 10; ++label) {
      double distance = 0.0;
      for (std::size_t p = 0; p < bytes; ++p) {
        const double difference = test.pixels[i * bytes + p] - means[label][p];
        distance += difference * difference;
      }
      if (distance < best_distance) {
        best_distance = distance;
        best = label;
      }
    }
    correct += best == test.labels[static_cast<std::size_t>(i)];
  }
  EXPECT_GT(correct, test.count / 2) << correct << " of " << test.count << " correct";
}

TEST(SyntheticData, InvalidConfigRejected) {
  SyntheticConfig no_samples = colour_config(0);
  EXPECT_THROW(pipar::generate_synthetic(no_samples, 1, SyntheticSplit::kTrain),
               std::invalid_argument);
  SyntheticConfig too_many_classes = colour_config(10);
  too_many_classes.classes = 300;
  EXPECT_THROW(pipar::generate_synthetic(too_many_classes, 1, SyntheticSplit::kTrain),
               std::invalid_argument);
}

}  // namespace
