// Decoded images of one data split with their class labels, the common
// output of the IDX, CIFAR, SVHN and synthetic readers.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pipar/idx.hpp"

namespace pipar {

struct ImageSet {
  std::int64_t count = 0;
  std::int64_t channels = 1;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  // count * channels * rows * cols bytes in (image, channel, row, column)
  // order, row-major: the layout of a (N, C, H, W) tensor.
  std::vector<std::uint8_t> pixels;
  std::vector<std::uint8_t> labels;  // count class indices, from 0

  std::int64_t image_bytes() const { return channels * rows * cols; }
};

// Moves single-channel IDX images into an ImageSet.
inline ImageSet to_image_set(LabeledImages images) {
  ImageSet set;
  set.count = images.count;
  set.channels = 1;
  set.rows = images.rows;
  set.cols = images.cols;
  set.pixels = std::move(images.pixels);
  set.labels = std::move(images.labels);
  return set;
}

}  // namespace pipar
