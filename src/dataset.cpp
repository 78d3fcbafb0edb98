// The data sets: their specs, finding and reading their files, and the
// conversion to normalised tensors.
#include "pipar/dataset.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "pipar/cifar.hpp"
#include "pipar/error.hpp"
#include "pipar/idx.hpp"
#include "pipar/svhn.hpp"
#include "pipar/synthetic.hpp"

namespace pipar {
namespace {

// The synthetic data sets are fixed, like real ones: every run generates the
// same samples, whatever its --seed.
constexpr std::uint64_t kSyntheticDataSeed = 20240601;

const char* const kCifarSite = "https://www.cs.toronto.edu/~kriz/cifar.html";

bool is_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string find_idx_file(const DatasetSpec& spec, const std::string& folder,
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

std::string join_names(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " and " : ", ";
    text += names[i];
  }
  return text;
}

// Returns the error for a missing file of a data set that no Debian package
// ships: the file, every file the data set needs and where to get them.
InputError missing_file_error(const DatasetSpec& spec, const std::string& folder,
                              const std::string& path) {
  std::vector<std::string> all = spec.train_files;
  all.insert(all.end(), spec.test_files.begin(), spec.test_files.end());
  const std::string subfolder =
      spec.archive_folder.empty() ? "" : " (or its subfolder " + spec.archive_folder + "/)";
  return InputError(spec.name + " file not found: " + path + ". The folder " + folder +
                    subfolder + " must contain " + join_names(all) + " from " + spec.source +
                    ". No Debian package ships " + spec.name +
                    ", so download and unpack it, then pass --data-dir with the folder of these "
                    "files (default: /usr/share/datasets/" + spec.name + ").");
}

// Returns the paths of `names` in `folder`, or in its subfolder
// spec.archive_folder when only that one has the first of them, so that
// --data-dir may name the folder the archive was unpacked in.
std::vector<std::string> find_files(const DatasetSpec& spec, const std::string& folder,
                                    const std::vector<std::string>& names) {
  std::string base = folder;
  const std::string unpacked = folder + "/" + spec.archive_folder;
  if (!spec.archive_folder.empty() && !is_file(folder + "/" + names.front()) &&
      is_file(unpacked + "/" + names.front())) {
    base = unpacked;
  }
  std::vector<std::string> paths;
  for (const std::string& name : names) {
    const std::string path = base + "/" + name;
    if (!is_file(path)) throw missing_file_error(spec, folder, path);
    paths.push_back(path);
  }
  return paths;
}

ImageSet read_idx_split(const DatasetSpec& spec, const std::string& folder,
                        const std::vector<std::string>& names) {
  const std::string images = find_idx_file(spec, folder, names.at(0));
  const std::string labels = find_idx_file(spec, folder, names.at(1));
  return to_image_set(read_labeled_images(images, labels, static_cast<int>(spec.classes)));
}

ImageSet read_cifar_split(const DatasetSpec& spec, const std::string& folder,
                          const std::vector<std::string>& names, std::int64_t samples) {
  const CifarVariant variant =
      spec.format == DatasetFormat::kCifar10 ? CifarVariant::kCifar10 : CifarVariant::kCifar100;
  const std::int64_t per_file = samples / static_cast<std::int64_t>(names.size());
  return read_cifar(variant, find_files(spec, folder, names), per_file);
}

ImageSet generate_split(const DatasetSpec& spec, bool train) {
  SyntheticConfig config;
  config.channels = spec.input.channels;
  config.rows = spec.input.height;
  config.cols = spec.input.width;
  config.classes = static_cast<int>(spec.classes);
  config.count = train ? spec.train_samples : spec.test_samples;
  return generate_synthetic(config, kSyntheticDataSeed,
                            train ? SyntheticSplit::kTrain : SyntheticSplit::kTest);
}

// Throws InputError unless `data` has the image shape that spec.input names.
void check_shape(const DatasetSpec& spec, const std::string& folder, const ImageSet& data) {
  const InputShape& input = spec.input;
  if (data.channels == input.channels && data.rows == input.height && data.cols == input.width) {
    return;
  }
  throw InputError("the " + spec.name + " files in " + folder + " contain " +
                   std::to_string(data.channels) + "x" + std::to_string(data.rows) + "x" +
                   std::to_string(data.cols) + " images but " + spec.name + " has " +
                   std::to_string(input.channels) + "x" + std::to_string(input.height) + "x" +
                   std::to_string(input.width) + " (channels x height x width)");
}

DatasetSpec idx_spec(const std::string& name, double mean, double std) {
  DatasetSpec spec;
  spec.name = name;
  spec.format = DatasetFormat::kIdx;
  spec.input = InputShape{1, 28, 28};
  spec.mean = {mean};
  spec.std = {std};
  spec.train_files = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
  spec.test_files = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  return spec;
}

DatasetSpec colour_spec(const std::string& name, DatasetFormat format, std::int64_t classes,
                        std::vector<double> mean, std::vector<double> std) {
  DatasetSpec spec;
  spec.name = name;
  spec.format = format;
  spec.input = InputShape{3, 32, 32};
  spec.classes = classes;
  spec.mean = std::move(mean);
  spec.std = std::move(std);
  return spec;
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {
      "fashion-mnist", "mnist", "cifar-10", "cifar-100", "svhn", "synthetic-28", "synthetic-32"};
  return names;
}

DatasetSpec dataset_spec(const std::string& name) {
  // Means and standard deviations are per channel over every pixel of the
  // training split, scaled to [0, 1]; docs/datasets.md gives their sources.
  // NOTE: the CIFAR and SVHN values come from published sources and were not
  // recomputed here, because no copy of those files was at hand.
  if (name == "fashion-mnist") {
    DatasetSpec spec = idx_spec(name, 0.2860, 0.3530);
    spec.debian_package = "dataset-fashion-mnist";
    return spec;
  }
  if (name == "mnist") return idx_spec(name, 0.1307, 0.3081);
  if (name == "cifar-10") {
    DatasetSpec spec = colour_spec(name, DatasetFormat::kCifar10, 10, {0.49140, 0.48216, 0.44653},
                                   {0.2470, 0.2435, 0.2616});
    spec.train_files = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                        "data_batch_4.bin", "data_batch_5.bin"};
    spec.test_files = {"test_batch.bin"};
    spec.archive_folder = "cifar-10-batches-bin";
    spec.train_samples = 50000;
    spec.test_samples = 10000;
    spec.source = std::string("the binary version of CIFAR-10 (cifar-10-binary.tar.gz at ") +
                  kCifarSite + ")";
    spec.flip_invariant = true;
    return spec;
  }
  if (name == "cifar-100") {
    DatasetSpec spec = colour_spec(name, DatasetFormat::kCifar100, 100, {0.50708, 0.48655, 0.44092},
                                   {0.2673, 0.2564, 0.2762});
    spec.train_files = {"train.bin"};
    spec.test_files = {"test.bin"};
    spec.archive_folder = "cifar-100-binary";
    spec.train_samples = 50000;
    spec.test_samples = 10000;
    spec.source = std::string("the binary version of CIFAR-100 (cifar-100-binary.tar.gz at ") +
                  kCifarSite + ")";
    spec.flip_invariant = true;
    return spec;
  }
  if (name == "svhn") {
    DatasetSpec spec = colour_spec(name, DatasetFormat::kSvhnMat, 10, {0.4377, 0.4438, 0.4728},
                                   {0.1980, 0.2010, 0.1970});
    spec.train_files = {"train_32x32.mat"};
    spec.test_files = {"test_32x32.mat"};
    spec.source = "format 2 (cropped digits) of SVHN at http://ufldl.stanford.edu/housenumbers/";
    return spec;
  }
  if (name == "synthetic-28" || name == "synthetic-32") {
    DatasetSpec spec;
    spec.name = name;
    spec.format = DatasetFormat::kSynthetic;
    // Measured over the generated training split; the SyntheticDataset test
    // checks them.
    if (name == "synthetic-28") {
      spec.input = InputShape{1, 28, 28};
      spec.mean = {0.4999};
      spec.std = {0.1363};
      spec.train_samples = 60000;
    } else {
      spec.input = InputShape{3, 32, 32};
      spec.mean = {0.5012, 0.5002, 0.5012};
      spec.std = {0.1168, 0.1175, 0.1216};
      spec.train_samples = 50000;
      spec.flip_invariant = true;
    }
    spec.test_samples = 10000;
    return spec;
  }
  throw InputError("unknown dataset '" + name + "'; available: " + join_names(dataset_names()));
}

ImageSet load_images(const DatasetSpec& spec, const std::string& folder, bool train) {
  const std::vector<std::string>& names = train ? spec.train_files : spec.test_files;
  const std::int64_t samples = train ? spec.train_samples : spec.test_samples;
  ImageSet data;
  switch (spec.format) {
    case DatasetFormat::kIdx:
      data = read_idx_split(spec, folder, names);
      break;
    case DatasetFormat::kCifar10:
    case DatasetFormat::kCifar100:
      data = read_cifar_split(spec, folder, names, samples);
      break;
    case DatasetFormat::kSvhnMat:
      data = read_svhn_mat(find_files(spec, folder, names).front());
      break;
    case DatasetFormat::kSynthetic:
      data = generate_split(spec, train);
      break;
  }
  check_shape(spec, folder, data);
  return data;
}

TensorData to_tensors(const DatasetSpec& spec, const ImageSet& data,
                      const std::vector<std::int64_t>& indices) {
  auto all_images =
      torch::from_blob(const_cast<std::uint8_t*>(data.pixels.data()),
                       {data.count, data.channels, data.rows, data.cols}, torch::kUInt8);
  auto all_labels = torch::from_blob(const_cast<std::uint8_t*>(data.labels.data()),
                                     {data.count}, torch::kUInt8);

  torch::Tensor images = all_images;
  torch::Tensor labels = all_labels;
  if (!indices.empty()) {
    auto index = torch::tensor(indices, torch::kInt64);
    images = all_images.index_select(0, index);
    labels = all_labels.index_select(0, index);
  }
  const torch::Tensor mean =
      torch::tensor(spec.mean, torch::kFloat32).view({1, data.channels, 1, 1});
  const torch::Tensor std = torch::tensor(spec.std, torch::kFloat32).view({1, data.channels, 1, 1});
  TensorData tensors;
  tensors.images = images.to(torch::kFloat32).div_(255.0).sub_(mean).div_(std);
  tensors.labels = labels.to(torch::kInt64);
  return tensors;
}

torch::nn::Sequential build_model_for_dataset(const std::string& model, const DatasetSpec& spec) {
  const std::vector<std::string>& models = model_names();
  if (std::find(models.begin(), models.end(), model) == models.end()) {
    return build_model(model, spec.input, spec.classes);  // throws: unknown model
  }
  try {
    return build_model(model, spec.input, spec.classes);
  } catch (const InputError& error) {
    const InputShape& input = spec.input;
    throw InputError("--model " + model + " cannot take the " + std::to_string(input.channels) +
                     "x" + std::to_string(input.height) + "x" + std::to_string(input.width) +
                     " images of --dataset " + spec.name + ": " + error.what() +
                     ". Choose another model or data set.");
  }
}

}  // namespace pipar
