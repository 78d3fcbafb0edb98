// Data augmentation of training batches: random crops of zero-padded images
// and random horizontal flips, as commonly used to train on CIFAR.
//
// A client augments each batch once, before cutting it into micro-batches,
// so every micro-batch of PiPar is a slice of the same augmented batch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pipar/dataset.hpp"

namespace pipar {

// Settings of the augmentation of a data set's training images, disabled by
// default.
struct Augmentation {
  bool enabled = false;
  // Pixels of value 0 added on every side before a crop of the original size.
  std::int64_t padding = 4;
  bool flip = true;  // mirror each image left to right with probability 1/2
  // Per channel, the normalised value of a 0 pixel (-mean / std), which the
  // padding takes because the images are already normalised.
  std::vector<double> fill;
};

// The crop and flip of one image. (top, left) is the crop's corner in the
// padded image, each from 0 to 2 * padding; (padding, padding) is the
// original image.
struct CropFlip {
  std::int64_t top = 0;
  std::int64_t left = 0;
  bool flip = false;
};

// Returns the augmentation of `spec`'s training images: crops after 4 pixels
// of padding, and flips unless the images are digits (spec.flip_invariant
// false), whose mirror images are no digits. Throws InputError for a
// single-channel data set, because only colour images are augmented.
Augmentation augmentation_for(const DatasetSpec& spec);

// Draws one crop and flip for each of `count` images. The same seed gives
// the same draws with any standard library.
std::vector<CropFlip> draw_crop_flips(std::int64_t count, const Augmentation& augmentation,
                                      std::uint64_t seed);

// Pads each image of `images` (N, C, H, W float32, normalised) with
// augmentation.padding pixels of its channel's fill value on every side,
// crops H x W at its draw's corner and mirrors it when drawn. Returns a new
// tensor of the same shape. Throws std::invalid_argument when `draws` or
// augmentation.fill do not match the images.
torch::Tensor apply_crop_flips(const torch::Tensor& images, const std::vector<CropFlip>& draws,
                               const Augmentation& augmentation);

// Draws with `seed` and applies; returns `images` itself when the
// augmentation is disabled.
torch::Tensor augment_images(const torch::Tensor& images, const Augmentation& augmentation,
                             std::uint64_t seed);

}  // namespace pipar
