// Training and test data as tensors, read from IDX files.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipar/idx.hpp"
#include "pipar/model.hpp"

namespace pipar {

// The file names, input shape, classes and normalisation of a data set.
struct DatasetSpec {
  std::string name;
  InputShape input;
  std::int64_t classes = 10;
  double mean = 0.0;  // of the training pixels scaled to [0, 1]
  double std = 1.0;
  std::string train_images, train_labels, test_images, test_labels;  // without ".gz"
  std::string debian_package;  // that installs the files, or empty
};

// Throws InputError for an unknown name.
DatasetSpec dataset_spec(const std::string& name);

// Images normalised to zero mean and unit variance, (count, C, H, W) float32,
// and labels, (count) int64.
struct TensorData {
  torch::Tensor images;
  torch::Tensor labels;
  std::int64_t size() const { return labels.size(0); }
};

// Reads the training (`train` true) or test files of `spec` from `folder`,
// taking `name`.gz and falling back to the uncompressed `name`. Throws
// InputError naming the missing path and the package that ships it.
LabeledImages load_labeled_images(const DatasetSpec& spec, const std::string& folder,
                                  bool train);

// Converts the samples at `indices` (all of them when empty) to tensors.
TensorData to_tensors(const DatasetSpec& spec, const LabeledImages& data,
                      const std::vector<std::int64_t>& indices = {});

}  // namespace pipar
