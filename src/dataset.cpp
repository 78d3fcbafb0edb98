// IDX data sets as normalised tensors.
#include "pipar/dataset.hpp"

#include <sys/stat.h>

#include "pipar/error.hpp"

namespace pipar {
namespace {

bool is_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string find_file(const DatasetSpec& spec, const std::string& folder,
                      const std::string& name) {
  const std::string gzipped = folder + "/" + name + ".gz";
  const std::string plain = folder + "/" + name;
  if (is_file(gzipped)) return gzipped;
  if (is_file(plain)) return plain;

  std::string fix = "pass --data-dir with the folder that contains it";
  if (!spec.debian_package.empty()) {
    fix = "install Debian's " + spec.debian_package + " package (apt-get install " +
          spec.debian_package + ") or " + fix;
  }
  throw InputError(spec.name + " file not found: " + gzipped + " (nor " + plain + "); " + fix);
}

}  // namespace

DatasetSpec dataset_spec(const std::string& name) {
  DatasetSpec spec;
  spec.name = name;
  spec.train_images = "train-images-idx3-ubyte";
  spec.train_labels = "train-labels-idx1-ubyte";
  spec.test_images = "t10k-images-idx3-ubyte";
  spec.test_labels = "t10k-labels-idx1-ubyte";
  spec.input = InputShape{1, 28, 28};
  spec.classes = 10;
  // Mean and standard deviation of the 60,000 training images' pixels.
  if (name == "fashion-mnist") {
    spec.mean = 0.2860;
    spec.std = 0.3530;
    spec.debian_package = "dataset-fashion-mnist";
  } else if (name == "mnist") {
    spec.mean = 0.1307;
    spec.std = 0.3081;
  } else {
    throw InputError("unknown dataset '" + name + "'; available: fashion-mnist, mnist");
  }
  return spec;
}

LabeledImages load_labeled_images(const DatasetSpec& spec, const std::string& folder,
                                  bool train) {
  const std::string images = find_file(spec, folder, train ? spec.train_images : spec.test_images);
  const std::string labels = find_file(spec, folder, train ? spec.train_labels : spec.test_labels);
  LabeledImages data = read_labeled_images(images, labels, static_cast<int>(spec.classes));
  if (data.rows != spec.input.height || data.cols != spec.input.width) {
    throw InputError(images + " contains " + std::to_string(data.rows) + "x" +
                     std::to_string(data.cols) + " images but " + spec.name + " expects " +
                     std::to_string(spec.input.height) + "x" + std::to_string(spec.input.width));
  }
  return data;
}

TensorData to_tensors(const DatasetSpec& spec, const LabeledImages& data,
                      const std::vector<std::int64_t>& indices) {
  auto all_images = torch::from_blob(const_cast<std::uint8_t*>(data.pixels.data()),
                                     {data.count, 1, data.rows, data.cols}, torch::kUInt8);
  auto all_labels = torch::from_blob(const_cast<std::uint8_t*>(data.labels.data()),
                                     {data.count}, torch::kUInt8);

  torch::Tensor images = all_images;
  torch::Tensor labels = all_labels;
  if (!indices.empty()) {
    auto index = torch::tensor(indices, torch::kInt64);
    images = all_images.index_select(0, index);
    labels = all_labels.index_select(0, index);
  }
  TensorData tensors;
  tensors.images = images.to(torch::kFloat32).div_(255.0).sub_(spec.mean).div_(spec.std);
  tensors.labels = labels.to(torch::kInt64);
  return tensors;
}

}  // namespace pipar
