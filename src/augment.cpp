// Random crops and flips of normalised image batches.
#include "pipar/augment.hpp"

#include <random>
#include <stdexcept>
#include <string>

#include "pipar/error.hpp"

namespace pipar {

Augmentation augmentation_for(const DatasetSpec& spec) {
  if (spec.input.channels < 3) {
    throw InputError("--augment crops and flips colour images, but --dataset " + spec.name +
                     " is grayscale; drop --augment or use cifar-10, cifar-100, svhn or "
                     "synthetic-32");
  }
  Augmentation augmentation;
  augmentation.enabled = true;
  augmentation.flip = spec.flip_invariant;
  for (std::size_t channel = 0; channel < spec.mean.size(); ++channel) {
    augmentation.fill.push_back(-spec.mean[channel] / spec.std[channel]);
  }
  return augmentation;
}

std::vector<CropFlip> draw_crop_flips(std::int64_t count, const Augmentation& augmentation,
                                      std::uint64_t seed) {
  // std::mt19937_64's output sequence is fixed by the standard, while the
  // std:: distributions are not, hence the modulo; its bias is below
  // positions / 2^64.
  std::mt19937_64 generator(seed);
  const auto positions = static_cast<std::uint64_t>(2 * augmentation.padding + 1);
  std::vector<CropFlip> draws(static_cast<std::size_t>(count));
  for (CropFlip& draw : draws) {
    draw.top = static_cast<std::int64_t>(generator() % positions);
    draw.left = static_cast<std::int64_t>(generator() % positions);
    const bool heads = (generator() & 1u) != 0;
    draw.flip = augmentation.flip && heads;
  }
  return draws;
}

torch::Tensor apply_crop_flips(const torch::Tensor& images, const std::vector<CropFlip>& draws,
                               const Augmentation& augmentation) {
  const std::int64_t count = images.size(0);
  const std::int64_t channels = images.size(1);
  const std::int64_t height = images.size(2);
  const std::int64_t width = images.size(3);
  const std::int64_t padding = augmentation.padding;
  if (static_cast<std::int64_t>(draws.size()) != count ||
      static_cast<std::int64_t>(augmentation.fill.size()) != channels) {
    throw std::invalid_argument("apply_crop_flips: " + std::to_string(draws.size()) +
                                " draws and " + std::to_string(augmentation.fill.size()) +
                                " fill values for " + std::to_string(count) + " images of " +
                                std::to_string(channels) + " channels");
  }

  const torch::Tensor fill =
      torch::tensor(augmentation.fill, images.scalar_type()).view({1, channels, 1, 1});
  torch::Tensor padded =
      fill.expand({count, channels, height + 2 * padding, width + 2 * padding}).clone();
  padded.narrow(2, padding, height).narrow(3, padding, width).copy_(images);

  torch::Tensor output = torch::empty_like(images);
  for (std::int64_t i = 0; i < count; ++i) {
    const CropFlip& draw = draws[static_cast<std::size_t>(i)];
    torch::Tensor crop = padded[i].narrow(1, draw.top, height).narrow(2, draw.left, width);
    if (draw.flip) crop = crop.flip({2});
    output[i].copy_(crop);
  }
  return output;
}

torch::Tensor augment_images(const torch::Tensor& images, const Augmentation& augmentation,
                             std::uint64_t seed) {
  if (!augmentation.enabled) return images;
  return apply_crop_flips(images, draw_crop_flips(images.size(0), augmentation, seed),
                          augmentation);
}

}  // namespace pipar
