// Tests of the training augmentation: seeded draws, mirror images, padding
// with the normalised value of a zero pixel, and the batches a client takes.
#include "pipar/augment.hpp"

#include <gtest/gtest.h>

#include <set>

#include "pipar/error.hpp"
#include "pipar/training.hpp"
#include "temp_files.hpp"

namespace {

using pipar::Augmentation;
using pipar::CropFlip;
using pipar::testing::Contains;
using pipar::testing::input_error_message;

Augmentation cifar10_augmentation() {
  return pipar::augmentation_for(pipar::dataset_spec("cifar-10"));
}

// Images whose every value differs: value = 1 + index in the tensor.
torch::Tensor numbered_images(std::int64_t count) {
  return torch::arange(1, 1 + count * 3 * 32 * 32, torch::kFloat32).view({count, 3, 32, 32});
}

TEST(Augment, FillIsNormalisedZero) {
  const pipar::DatasetSpec spec = pipar::dataset_spec("cifar-10");
  const Augmentation augmentation = pipar::augmentation_for(spec);

  ASSERT_EQ(augmentation.fill.size(), 3u);
  for (std::size_t channel = 0; channel < 3; ++channel) {
    EXPECT_DOUBLE_EQ(augmentation.fill[channel], -spec.mean[channel] / spec.std[channel]);
  }
  EXPECT_TRUE(augmentation.enabled);
  EXPECT_EQ(augmentation.padding, 4);
  EXPECT_TRUE(augmentation.flip);
}

TEST(Augment, GrayscaleRejected) {
  for (const char* name : {"fashion-mnist", "mnist", "synthetic-28"}) {
    const std::string message =
        input_error_message([&] { pipar::augmentation_for(pipar::dataset_spec(name)); });
    EXPECT_TRUE(Contains(message, "--augment")) << name;
    EXPECT_TRUE(Contains(message, std::string("--dataset ") + name + " is grayscale")) << name;
  }
}

TEST(Augment, SvhnIsNotFlipped) {
  const Augmentation augmentation = pipar::augmentation_for(pipar::dataset_spec("svhn"));
  EXPECT_FALSE(augmentation.flip);
  for (const CropFlip& draw : pipar::draw_crop_flips(200, augmentation, 3)) {
    EXPECT_FALSE(draw.flip);
  }
}

TEST(Augment, SameSeedSameDraws) {
  const Augmentation augmentation = cifar10_augmentation();
  const auto first = pipar::draw_crop_flips(100, augmentation, 42);
  const auto second = pipar::draw_crop_flips(100, augmentation, 42);
  const auto other = pipar::draw_crop_flips(100, augmentation, 43);

  int differences = 0;
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].top, second[i].top) << i;
    EXPECT_EQ(first[i].left, second[i].left) << i;
    EXPECT_EQ(first[i].flip, second[i].flip) << i;
    differences += first[i].top != other[i].top || first[i].left != other[i].left ||
                   first[i].flip != other[i].flip;
  }
  EXPECT_GT(differences, 50);
}

TEST(Augment, DrawsCoverEveryOffset) {
  const auto draws = pipar::draw_crop_flips(2000, cifar10_augmentation(), 7);
  std::set<std::int64_t> tops;
  std::set<std::int64_t> lefts;
  int flips = 0;
  for (const CropFlip& draw : draws) {
    tops.insert(draw.top);
    lefts.insert(draw.left);
    flips += draw.flip;
  }
  EXPECT_EQ(tops, (std::set<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(lefts, (std::set<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_GT(flips, 900);
  EXPECT_LT(flips, 1100);
}

TEST(Augment, SameSeedSameImages) {
  const torch::Tensor images = numbered_images(8);
  const torch::Tensor first = pipar::augment_images(images, cifar10_augmentation(), 5);
  const torch::Tensor second = pipar::augment_images(images, cifar10_augmentation(), 5);
  const torch::Tensor other = pipar::augment_images(images, cifar10_augmentation(), 6);

  EXPECT_TRUE(torch::equal(first, second));
  EXPECT_FALSE(torch::equal(first, other));
}

TEST(Augment, ShapeUnchanged) {
  const torch::Tensor images = numbered_images(5);
  const torch::Tensor augmented = pipar::augment_images(images, cifar10_augmentation(), 1);

  EXPECT_EQ(augmented.sizes(), images.sizes());
  EXPECT_EQ(augmented.scalar_type(), torch::kFloat32);
}

TEST(Augment, CentredCropIsIdentity) {
  const torch::Tensor images = numbered_images(2);
  const std::vector<CropFlip> draws(2, CropFlip{4, 4, false});

  EXPECT_TRUE(torch::equal(pipar::apply_crop_flips(images, draws, cifar10_augmentation()), images));
}

TEST(Augment, FlipIsMirrorImage) {
  const torch::Tensor images = numbered_images(2);
  const std::vector<CropFlip> draws = {CropFlip{4, 4, true}, CropFlip{4, 4, false}};

  const torch::Tensor output = pipar::apply_crop_flips(images, draws, cifar10_augmentation());

  EXPECT_TRUE(torch::equal(output[0], images[0].flip({2})));
  EXPECT_TRUE(torch::equal(output[1], images[1]));
  // Column 0 of the mirror image is column 31 of the input, in every row
  // and channel.
  EXPECT_TRUE(torch::equal(output[0].select(2, 0), images[0].select(2, 31)));
}

TEST(Augment, CornerCropShowsPadding) {
  const Augmentation augmentation = cifar10_augmentation();
  const torch::Tensor images = numbered_images(1);
  const std::vector<CropFlip> draws = {CropFlip{0, 0, false}};

  const torch::Tensor output = pipar::apply_crop_flips(images, draws, augmentation);

  for (std::int64_t channel = 0; channel < 3; ++channel) {
    const auto fill = static_cast<float>(augmentation.fill[static_cast<std::size_t>(channel)]);
    const torch::Tensor plane = output[0][channel];
    EXPECT_TRUE(torch::all(plane.narrow(0, 0, 4).eq(fill)).item<bool>()) << channel;
    EXPECT_TRUE(torch::all(plane.narrow(1, 0, 4).eq(fill)).item<bool>()) << channel;
    EXPECT_TRUE(torch::equal(plane.narrow(0, 4, 28).narrow(1, 4, 28),
                             images[0][channel].narrow(0, 0, 28).narrow(1, 0, 28)))
        << channel;
  }
}

TEST(Augment, PaddingEqualsNormalisedZeroPixel) {
  // A black image normalised by to_tensors is what the padding must equal,
  // so the padding is black too.
  const pipar::DatasetSpec spec = pipar::dataset_spec("cifar-10");
  pipar::ImageSet black;
  black.count = 1;
  black.channels = 3;
  black.rows = 32;
  black.cols = 32;
  black.pixels.assign(3 * 32 * 32, 0);
  black.labels = {0};
  const torch::Tensor images = pipar::to_tensors(spec, black).images;

  const torch::Tensor output = pipar::apply_crop_flips(
      images, {CropFlip{8, 8, true}}, pipar::augmentation_for(spec));

  EXPECT_TRUE(torch::allclose(output, images));
}

TEST(Augment, MismatchedDrawsRejected) {
  const torch::Tensor images = numbered_images(3);
  EXPECT_THROW(pipar::apply_crop_flips(images, std::vector<CropFlip>(2), cifar10_augmentation()),
               std::invalid_argument);
}

// ---- Batches of a client ----

TEST(BatchImages, UnchangedWithoutAugmentation) {
  pipar::TensorData shard;
  shard.images = numbered_images(6);
  shard.labels = torch::zeros({6}, torch::kInt64);
  const torch::Tensor indices = torch::tensor({4, 1, 3}, torch::kInt64);
  const pipar::TrainingConfig config;

  const torch::Tensor batch = pipar::batch_images(shard, indices, config, 0, 0, 1);

  EXPECT_TRUE(torch::equal(batch, shard.images.index_select(0, indices)));
}

TEST(BatchImages, SeededByRoundBatchAndClient) {
  pipar::TensorData shard;
  shard.images = numbered_images(6);
  shard.labels = torch::zeros({6}, torch::kInt64);
  const torch::Tensor indices = torch::tensor({4, 1, 3, 0}, torch::kInt64);
  pipar::TrainingConfig config;
  config.augmentation = cifar10_augmentation();

  const torch::Tensor batch = pipar::batch_images(shard, indices, config, 2, 3, 1);

  EXPECT_TRUE(torch::equal(batch, pipar::batch_images(shard, indices, config, 2, 3, 1)));
  EXPECT_FALSE(torch::equal(batch, pipar::batch_images(shard, indices, config, 1, 3, 1)));
  EXPECT_FALSE(torch::equal(batch, pipar::batch_images(shard, indices, config, 2, 4, 1)));
  EXPECT_FALSE(torch::equal(batch, pipar::batch_images(shard, indices, config, 2, 3, 2)));
  EXPECT_FALSE(torch::equal(batch, shard.images.index_select(0, indices)));
}

}  // namespace
