// CIFAR binary-version reading with stdio, a chunk of whole records at a
// time. Every size and label check names the file and the record.
#include "pipar/cifar.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "pipar/error.hpp"

namespace pipar {
namespace {

constexpr std::int64_t kSide = 32;
constexpr std::int64_t kChannels = 3;
constexpr std::int64_t kPixelBytes = kChannels * kSide * kSide;  // 3072
constexpr std::int64_t kRecordsPerRead = 1024;

const char* const kDownloadAdvice =
    " Download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and unpack "
    "it again.";

// The label bytes in front of the pixels of one record.
struct RecordLayout {
  const char* name;            // for messages
  std::int64_t label_bytes;    // 1 (CIFAR-10) or 2 (CIFAR-100)
  std::int64_t class_label;    // index of the class label among the label bytes
  int classes;
  int coarse_classes;          // CIFAR-100's superclasses, 0 without a coarse label
};

RecordLayout layout_of(CifarVariant variant) {
  if (variant == CifarVariant::kCifar10) return {"CIFAR-10", 1, 0, 10, 0};
  return {"CIFAR-100", 2, 1, 100, 20};
}

CifarVariant other_variant(CifarVariant variant) {
  return variant == CifarVariant::kCifar10 ? CifarVariant::kCifar100 : CifarVariant::kCifar10;
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw InputError(path + ": " + problem);
}

// Opens `path` and returns it with its size in bytes.
FileHandle open_regular_file(const std::string& path, std::int64_t* size) {
  errno = 0;
  FileHandle file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    fail(path, std::string("failed to open the CIFAR file: ") + std::strerror(errno) +
                   ". Check the path and its permissions.");
  }
  struct stat info {};
  if (::fstat(fileno(file.get()), &info) != 0 || !S_ISREG(info.st_mode)) {
    fail(path, "not a regular file; expected a CIFAR binary file such as data_batch_1.bin.");
  }
  *size = static_cast<std::int64_t>(info.st_size);
  return file;
}

// Returns the number of records in a file of `size` bytes, after checking
// that the size is a whole, non-zero number of records and, when
// `records_per_file` is positive, that it is that number.
std::int64_t count_records(const std::string& path, CifarVariant variant, std::int64_t size,
                           std::int64_t records_per_file) {
  const RecordLayout layout = layout_of(variant);
  const std::int64_t record_bytes = cifar_record_bytes(variant);
  const std::string record_text = std::to_string(record_bytes) + "-byte " + layout.name +
                                  " records (" + std::to_string(layout.label_bytes) +
                                  (layout.label_bytes == 1 ? " label byte" : " label bytes") +
                                  " and 3072 pixel bytes)";
  if (size == 0) fail(path, std::string("the file is empty; expected ") + record_text + "." + kDownloadAdvice);

  if (size % record_bytes != 0) {
    std::string problem = "the file size of " + std::to_string(size) +
                          " bytes is not a whole number of " + record_text + ": it holds " +
                          std::to_string(size / record_bytes) +
                          (size / record_bytes == 1 ? " record and " : " records and ") +
                          std::to_string(size % record_bytes) +
                          " bytes more, so it is truncated inside a record or is not a " +
                          layout.name + " binary file.";
    const CifarVariant other = other_variant(variant);
    if (size % cifar_record_bytes(other) == 0) {
      problem += std::string(" Its size is a whole number of ") + layout_of(other).name +
                 " records, so it may be a " + layout_of(other).name + " file.";
    }
    fail(path, problem + kDownloadAdvice);
  }

  const std::int64_t records = size / record_bytes;
  if (records_per_file > 0 && records != records_per_file) {
    fail(path, "the file contains " + std::to_string(records) + " records, but each " +
                   layout.name + " file of the binary version contains " +
                   std::to_string(records_per_file) +
                   (records < records_per_file ? ", so the file is truncated."
                                               : ", so it is not an original file.") +
                   kDownloadAdvice);
  }
  return records;
}

// Throws InputError if a label byte of record `index` is out of range.
void check_labels(const std::string& path, const RecordLayout& layout, std::int64_t index,
                  const std::uint8_t* record) {
  const int label = record[layout.class_label];
  const char* kind = layout.coarse_classes > 0 ? "fine label " : "label ";
  if (label >= layout.classes) {
    fail(path, "record " + std::to_string(index) + " (counting from 0) has " + kind +
                   std::to_string(label) + ", but " + layout.name + " " + kind + "values are 0 to " +
                   std::to_string(layout.classes - 1) + ". The file is corrupt or is not a " +
                   layout.name + " file." + kDownloadAdvice);
  }
  if (layout.coarse_classes > 0 && record[0] >= layout.coarse_classes) {
    fail(path, "record " + std::to_string(index) + " (counting from 0) has coarse label " +
                   std::to_string(record[0]) + ", but " + layout.name +
                   " coarse label values are 0 to " + std::to_string(layout.coarse_classes - 1) +
                   ". The file is corrupt or is not a " + layout.name + " file." +
                   kDownloadAdvice);
  }
}

// Appends the records of one file to `images`.
void append_file(const std::string& path, CifarVariant variant, std::int64_t records_per_file,
                 ImageSet& images) {
  std::int64_t size = 0;
  const FileHandle file = open_regular_file(path, &size);
  const std::int64_t records = count_records(path, variant, size, records_per_file);
  const RecordLayout layout = layout_of(variant);
  const std::int64_t record_bytes = cifar_record_bytes(variant);

  const auto first_label = images.labels.size();
  const auto first_pixel = images.pixels.size();
  images.labels.resize(first_label + static_cast<std::size_t>(records));
  images.pixels.resize(first_pixel + static_cast<std::size_t>(records * kPixelBytes));

  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(kRecordsPerRead * record_bytes));
  for (std::int64_t start = 0; start < records; start += kRecordsPerRead) {
    const std::int64_t chunk = std::min(kRecordsPerRead, records - start);
    const auto chunk_bytes = static_cast<std::size_t>(chunk * record_bytes);
    errno = 0;
    if (std::fread(buffer.data(), 1, chunk_bytes, file.get()) != chunk_bytes) {
      const std::string cause = std::ferror(file.get()) != 0 && errno != 0
                                    ? std::strerror(errno)
                                    : "the file ended early, so it changed while it was read";
      fail(path, "failed to read record " + std::to_string(start) + " and after: " + cause + ".");
    }
    for (std::int64_t i = 0; i < chunk; ++i) {
      const std::uint8_t* record = buffer.data() + i * record_bytes;
      check_labels(path, layout, start + i, record);
      const auto index = static_cast<std::size_t>(start + i);
      images.labels[first_label + index] = record[layout.class_label];
      std::copy(record + layout.label_bytes, record + record_bytes,
                images.pixels.begin() +
                    static_cast<std::ptrdiff_t>(first_pixel + index * kPixelBytes));
    }
  }
  images.count += records;
}

}  // namespace

std::int64_t cifar_record_bytes(CifarVariant variant) {
  return layout_of(variant).label_bytes + kPixelBytes;
}

ImageSet read_cifar(CifarVariant variant, const std::vector<std::string>& paths,
                    std::int64_t records_per_file) {
  ImageSet images;
  images.channels = kChannels;
  images.rows = kSide;
  images.cols = kSide;
  for (const std::string& path : paths) append_file(path, variant, records_per_file, images);
  return images;
}

}  // namespace pipar
