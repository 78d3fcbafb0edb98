// Tests of the data sets as pipar loads them: the --dataset names, which
// files each split opens, missing-file messages, per-channel normalisation,
// the synthetic data sets and models that cannot take a data set's input.
#include "pipar/dataset.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "pipar/error.hpp"
#include "pipar/options.hpp"
#include "temp_files.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using pipar::testing::Contains;
using pipar::testing::input_error_message;
using pipar::testing::TempDir;
using pipar::testing::write_bytes;

constexpr std::size_t kImage = 3 * 32 * 32;

// A CIFAR-10 file of `count` records, each with label `label` and every
// pixel `value`.
Bytes cifar10_file(int count, std::uint8_t label, std::uint8_t value) {
  Bytes bytes;
  for (int i = 0; i < count; ++i) {
    bytes.push_back(label);
    bytes.insert(bytes.end(), kImage, value);
  }
  return bytes;
}

// Writes a CIFAR-10 folder: data_batch_k.bin contains 2 records of label k
// and pixel value 10 * k, and test_batch.bin 3 records of label 7 and value 7.
void write_cifar10_folder(const std::string& folder) {
  std::filesystem::create_directories(folder);
  for (int batch = 1; batch <= 5; ++batch) {
    write_bytes(folder + "/data_batch_" + std::to_string(batch) + ".bin",
                cifar10_file(2, static_cast<std::uint8_t>(batch),
                             static_cast<std::uint8_t>(10 * batch)));
  }
  write_bytes(folder + "/test_batch.bin", cifar10_file(3, 7, 7));
}

// The cifar-10 spec without the official sample counts, for small files.
pipar::DatasetSpec small_cifar10_spec() {
  pipar::DatasetSpec spec = pipar::dataset_spec("cifar-10");
  spec.train_samples = 0;
  spec.test_samples = 0;
  return spec;
}

// ---- Names and specs ----

TEST(DatasetSpec, EveryNameHasSpec) {
  for (const std::string& name : pipar::dataset_names()) {
    const pipar::DatasetSpec spec = pipar::dataset_spec(name);
    EXPECT_EQ(spec.name, name);
    EXPECT_EQ(static_cast<std::int64_t>(spec.mean.size()), spec.input.channels) << name;
    EXPECT_EQ(static_cast<std::int64_t>(spec.std.size()), spec.input.channels) << name;
    for (const double std : spec.std) EXPECT_GT(std, 0.0) << name;
    if (spec.format != pipar::DatasetFormat::kSynthetic) {
      EXPECT_FALSE(spec.train_files.empty()) << name;
      EXPECT_FALSE(spec.test_files.empty()) << name;
    }
  }
}

TEST(DatasetSpec, TrainOptionAcceptsEveryName) {
  for (const std::string& name : pipar::dataset_names()) {
    CLI::App app;
    pipar::TrainOptions options;
    pipar::add_train_options(app, options);
    EXPECT_NO_THROW(app.parse("--dataset " + name, /*program_name_included=*/false)) << name;
    EXPECT_EQ(options.dataset, name);
  }
  CLI::App app;
  pipar::TrainOptions options;
  pipar::add_train_options(app, options);
  EXPECT_THROW(app.parse("--dataset cifar10", /*program_name_included=*/false),
               CLI::ValidationError);
}

TEST(DatasetSpec, UnknownNameListsNames) {
  const std::string message = input_error_message([] { pipar::dataset_spec("imagenet"); });

  EXPECT_TRUE(Contains(message, "unknown dataset 'imagenet'"));
  EXPECT_TRUE(Contains(message, "cifar-100"));
  EXPECT_TRUE(Contains(message, "synthetic-32"));
}

TEST(DatasetSpec, MnistNormalisationUnchanged) {
  const pipar::DatasetSpec fashion = pipar::dataset_spec("fashion-mnist");
  EXPECT_EQ(fashion.mean, std::vector<double>{0.2860});
  EXPECT_EQ(fashion.std, std::vector<double>{0.3530});
  const pipar::DatasetSpec mnist = pipar::dataset_spec("mnist");
  EXPECT_EQ(mnist.mean, std::vector<double>{0.1307});
  EXPECT_EQ(mnist.std, std::vector<double>{0.3081});
}

TEST(DatasetSpec, ColourShapesAndClasses) {
  EXPECT_EQ(pipar::dataset_spec("cifar-10").classes, 10);
  EXPECT_EQ(pipar::dataset_spec("cifar-100").classes, 100);
  EXPECT_EQ(pipar::dataset_spec("svhn").classes, 10);
  for (const char* name : {"cifar-10", "cifar-100", "svhn", "synthetic-32"}) {
    const pipar::InputShape input = pipar::dataset_spec(name).input;
    EXPECT_EQ(input.channels, 3) << name;
    EXPECT_EQ(input.height, 32) << name;
    EXPECT_EQ(input.width, 32) << name;
  }
  const pipar::InputShape synthetic_28 = pipar::dataset_spec("synthetic-28").input;
  EXPECT_EQ(synthetic_28.channels, 1);
  EXPECT_EQ(synthetic_28.height, 28);
}

// ---- Files of each split ----

TEST(DatasetLoad, TrainSplitReadsOnlyTrainingFiles) {
  TempDir dir;
  write_cifar10_folder(dir.path());
  std::filesystem::remove(dir.file("test_batch.bin"));

  const pipar::ImageSet train = pipar::load_images(small_cifar10_spec(), dir.path(), true);

  ASSERT_EQ(train.count, 10);
  EXPECT_EQ(train.labels, (Bytes{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}));
  for (std::int64_t i = 0; i < train.count; ++i) {
    EXPECT_EQ(train.pixels[i * kImage], 10 * train.labels[i]) << "sample " << i;
  }
}

TEST(DatasetLoad, TestSplitReadsOnlyTestFile) {
  TempDir dir;
  write_cifar10_folder(dir.path());
  for (int batch = 1; batch <= 5; ++batch) {
    std::filesystem::remove(dir.file("data_batch_" + std::to_string(batch) + ".bin"));
  }

  const pipar::ImageSet test = pipar::load_images(small_cifar10_spec(), dir.path(), false);

  ASSERT_EQ(test.count, 3);
  EXPECT_EQ(test.labels, (Bytes{7, 7, 7}));
  EXPECT_EQ(test.pixels[0], 7);
}

TEST(DatasetLoad, ArchiveSubfolderFound) {
  TempDir dir;
  write_cifar10_folder(dir.file("cifar-10-batches-bin"));

  EXPECT_EQ(pipar::load_images(small_cifar10_spec(), dir.path(), true).count, 10);
  EXPECT_EQ(pipar::load_images(small_cifar10_spec(), dir.path(), false).count, 3);
}

TEST(DatasetLoad, OfficialRecordCountsChecked) {
  TempDir dir;
  write_cifar10_folder(dir.path());
  const std::string message = input_error_message(
      [&] { pipar::load_images(pipar::dataset_spec("cifar-10"), dir.path(), true); });

  EXPECT_TRUE(Contains(message, dir.file("data_batch_1.bin")));
  EXPECT_TRUE(Contains(message, "contains 2 records"));
  EXPECT_TRUE(Contains(message, "contains 10000"));
}

TEST(DatasetLoad, Cifar100FilesRead) {
  TempDir dir;
  Bytes train;
  for (const std::uint8_t fine : {0, 55, 99}) {
    train.push_back(1);
    train.push_back(fine);
    train.insert(train.end(), kImage, fine);
  }
  write_bytes(dir.file("train.bin"), train);
  pipar::DatasetSpec spec = pipar::dataset_spec("cifar-100");
  spec.train_samples = 0;

  const pipar::ImageSet set = pipar::load_images(spec, dir.path(), true);

  EXPECT_EQ(set.labels, (Bytes{0, 55, 99}));
}

TEST(DatasetLoad, MissingCifarFolderNamesFilesAndSource) {
  TempDir dir;
  const std::string message = input_error_message(
      [&] { pipar::load_images(pipar::dataset_spec("cifar-10"), dir.path(), true); });

  EXPECT_TRUE(Contains(message, "cifar-10 file not found: " + dir.file("data_batch_1.bin")));
  EXPECT_TRUE(Contains(message, "The folder " + dir.path() + " (or its subfolder cifar-10-batches-bin/)"));
  EXPECT_TRUE(Contains(message, "data_batch_1.bin, data_batch_2.bin"));
  EXPECT_TRUE(Contains(message, "and test_batch.bin"));
  EXPECT_TRUE(Contains(message, "cifar-10-binary.tar.gz at https://www.cs.toronto.edu/~kriz/cifar.html"));
  EXPECT_TRUE(Contains(message, "--data-dir"));
  EXPECT_TRUE(Contains(message, "/usr/share/datasets/cifar-10"));
}

TEST(DatasetLoad, MissingTrainingBatchNamed) {
  TempDir dir;
  write_cifar10_folder(dir.path());
  std::filesystem::remove(dir.file("data_batch_4.bin"));
  const std::string message = input_error_message(
      [&] { pipar::load_images(small_cifar10_spec(), dir.path(), true); });

  EXPECT_TRUE(Contains(message, "cifar-10 file not found: " + dir.file("data_batch_4.bin")));
}

TEST(DatasetLoad, MissingSvhnFileNamesSource) {
  TempDir dir;
  const std::string message = input_error_message(
      [&] { pipar::load_images(pipar::dataset_spec("svhn"), dir.path(), false); });

  EXPECT_TRUE(Contains(message, "svhn file not found: " + dir.file("test_32x32.mat")));
  EXPECT_TRUE(Contains(message, "train_32x32.mat and test_32x32.mat"));
  EXPECT_TRUE(Contains(message, "http://ufldl.stanford.edu/housenumbers/"));
}

// ---- Conversion to tensors ----

TEST(ToTensors, NormalisesEachChannel) {
  pipar::ImageSet set;
  set.count = 1;
  set.channels = 3;
  set.rows = 2;
  set.cols = 2;
  set.pixels = {0, 0, 0, 0, 255, 255, 255, 255, 51, 51, 51, 51};
  set.labels = {4};
  const pipar::DatasetSpec spec = pipar::dataset_spec("cifar-10");

  const pipar::TensorData tensors = pipar::to_tensors(spec, set);

  ASSERT_EQ(tensors.images.sizes(), (std::vector<std::int64_t>{1, 3, 2, 2}));
  const double expected[] = {(0.0 - spec.mean[0]) / spec.std[0],
                             (1.0 - spec.mean[1]) / spec.std[1],
                             (0.2 - spec.mean[2]) / spec.std[2]};
  for (int channel = 0; channel < 3; ++channel) {
    for (int row = 0; row < 2; ++row) {
      for (int col = 0; col < 2; ++col) {
        EXPECT_NEAR(tensors.images[0][channel][row][col].item<double>(), expected[channel], 1e-5)
            << "channel " << channel;
      }
    }
  }
  EXPECT_EQ(tensors.labels[0].item<std::int64_t>(), 4);
  EXPECT_EQ(tensors.labels.scalar_type(), torch::kInt64);
}

TEST(ToTensors, IndicesSelectSamples) {
  pipar::ImageSet set;
  set.count = 3;
  set.channels = 1;
  set.rows = 1;
  set.cols = 1;
  set.pixels = {10, 20, 30};
  set.labels = {0, 1, 2};
  const pipar::DatasetSpec spec = pipar::dataset_spec("mnist");

  const pipar::TensorData tensors = pipar::to_tensors(spec, set, {2, 0});

  ASSERT_EQ(tensors.size(), 2);
  EXPECT_EQ(tensors.labels[0].item<std::int64_t>(), 2);
  EXPECT_EQ(tensors.labels[1].item<std::int64_t>(), 0);
  EXPECT_NEAR(tensors.images[0][0][0][0].item<double>(), (30.0 / 255.0 - 0.1307) / 0.3081, 1e-5);
}

// ---- Synthetic data sets ----

TEST(SyntheticDataset, NormalisationMatchesTrainingSplit) {
  for (const char* name : {"synthetic-28", "synthetic-32"}) {
    const pipar::DatasetSpec spec = pipar::dataset_spec(name);
    const pipar::ImageSet train = pipar::load_images(spec, "/nonexistent", true);
    const std::int64_t plane = train.rows * train.cols;
    for (std::int64_t channel = 0; channel < train.channels; ++channel) {
      double sum = 0.0;
      double squares = 0.0;
      for (std::int64_t i = 0; i < train.count; ++i) {
        const std::uint8_t* pixels =
            train.pixels.data() + (i * train.channels + channel) * plane;
        for (std::int64_t p = 0; p < plane; ++p) {
          const double value = pixels[p] / 255.0;
          sum += value;
          squares += value * value;
        }
      }
      const double samples = static_cast<double>(train.count * plane);
      const double mean = sum / samples;
      const double std = std::sqrt(squares / samples - mean * mean);
      const auto index = static_cast<std::size_t>(channel);
      EXPECT_NEAR(mean, spec.mean[index], 0.0006) << name << " channel " << channel;
      EXPECT_NEAR(std, spec.std[index], 0.0006) << name << " channel " << channel;
    }
  }
}

TEST(SyntheticDataset, GeneratedWithoutFiles) {
  const pipar::DatasetSpec spec = pipar::dataset_spec("synthetic-32");
  const pipar::ImageSet test = pipar::load_images(spec, "/nonexistent", false);

  EXPECT_EQ(test.count, 10000);
  EXPECT_EQ(test.channels, 3);
  EXPECT_EQ(test.rows, 32);
}

// ---- Models for a data set ----

TEST(ModelForDataset, MismatchNamesModelAndDataset) {
  pipar::DatasetSpec spec = pipar::dataset_spec("synthetic-32");
  spec.name = "odd-30";
  spec.input = pipar::InputShape{3, 30, 30};
  const std::string message =
      input_error_message([&] { pipar::build_model_for_dataset("vgg5", spec); });

  EXPECT_TRUE(Contains(message, "--model vgg5"));
  EXPECT_TRUE(Contains(message, "--dataset odd-30"));
  EXPECT_TRUE(Contains(message, "3x30x30"));
  EXPECT_TRUE(Contains(message, "divisible by 4"));
}

TEST(ModelForDataset, Vgg5TakesColourImages) {
  for (const char* name : {"cifar-10", "cifar-100", "svhn", "synthetic-32"}) {
    const pipar::DatasetSpec spec = pipar::dataset_spec(name);
    torch::nn::Sequential model = pipar::build_model_for_dataset("vgg5", spec);
    model->eval();
    const torch::Tensor logits = model->forward(torch::zeros({2, 3, 32, 32}));
    EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{2, spec.classes})) << name;
  }
}

TEST(ModelForDataset, EveryModelTakesBothShapes) {
  for (const char* dataset : {"synthetic-28", "cifar-100"}) {
    const pipar::DatasetSpec spec = pipar::dataset_spec(dataset);
    for (const std::string& model : pipar::model_names()) {
      EXPECT_NO_THROW(pipar::build_model_for_dataset(model, spec)) << model << " on " << dataset;
    }
  }
}

}  // namespace
