// Training and test data as tensors: the data sets pipar reads, where their
// files are, and their conversion to normalised tensors.
//
// docs/datasets.md describes every data set, its files and its source.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipar/image_set.hpp"
#include "pipar/model.hpp"

namespace pipar {

enum class DatasetFormat {
  kIdx,        // MNIST-style IDX files, gzipped or plain
  kCifar10,    // binary version of CIFAR-10
  kCifar100,   // binary version of CIFAR-100
  kSvhnMat,    // SVHN cropped digits, MATLAB .mat
  kSynthetic,  // generated in memory, no files
};

// The files, input shape, classes and normalisation of a data set.
struct DatasetSpec {
  std::string name;
  DatasetFormat format = DatasetFormat::kIdx;
  InputShape input;
  std::int64_t classes = 10;
  // Per channel, of the training pixels scaled to [0, 1].
  std::vector<double> mean{0.0};
  std::vector<double> std{1.0};
  // Names in the data folder. IDX: the images file, then the labels file,
  // without ".gz". CIFAR: the files are read in this order.
  std::vector<std::string> train_files;
  std::vector<std::string> test_files;
  // The folder the official archive unpacks to (cifar-10-batches-bin), which
  // is also searched inside the data folder; empty when there is none.
  std::string archive_folder;
  // Samples of each split: generated for synthetic data, and for CIFAR the
  // count the files must hold (split evenly among the files). 0: not checked.
  std::int64_t train_samples = 0;
  std::int64_t test_samples = 0;
  std::string debian_package;  // that installs the files, or empty
  std::string source;          // where to download the files when no package ships them
  // Whether random horizontal flips suit the images: not for digits, whose
  // mirror images are not digits.
  bool flip_invariant = false;
};

// Names that dataset_spec accepts.
const std::vector<std::string>& dataset_names();

// Throws InputError for an unknown name.
DatasetSpec dataset_spec(const std::string& name);

// Images normalised per channel to zero mean and unit variance over the
// training set, (count, C, H, W) float32, and labels, (count) int64.
struct TensorData {
  torch::Tensor images;
  torch::Tensor labels;
  std::int64_t size() const { return labels.size(0); }
};

// Reads the training (`train` true) or the test split of `spec` from
// `folder`; a synthetic data set is generated and ignores `folder`. Only the
// files of the requested split are opened. IDX files are taken as `name`.gz,
// falling back to the uncompressed `name`. Throws InputError naming the
// missing or malformed file, the files expected and where to get them, or
// images whose shape differs from spec.input.
ImageSet load_images(const DatasetSpec& spec, const std::string& folder, bool train);

// Converts the samples at `indices` (all of them when empty) to tensors.
TensorData to_tensors(const DatasetSpec& spec, const ImageSet& data,
                      const std::vector<std::int64_t>& indices = {});

// Builds `model` for the input shape and classes of `spec` (see
// build_model). Throws InputError naming the model and the data set when
// the model cannot take the data set's input.
torch::nn::Sequential build_model_for_dataset(const std::string& model, const DatasetSpec& spec);

}  // namespace pipar
