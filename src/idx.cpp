// IDX file reading and writing through zlib's gzFile interface, which reads
// gzip-compressed and plain files alike.
//
// Layout of an IDX file: two zero bytes, the element type code, the number of
// dimensions, each dimension as a big-endian uint32, then the elements in
// row-major order.
#include "pipar/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "pipar/error.hpp"

namespace pipar {
namespace {

constexpr std::uint8_t kUnsignedByteType = 0x08;
constexpr std::size_t kMaxDims = 4;
constexpr std::size_t kMagicBytes = 4;
constexpr std::size_t kDimBytes = 4;

// Bytes per gzread or gzwrite call. zlib returns the count as an int, so one
// call must stay far below INT_MAX.
constexpr std::size_t kChunkBytes = std::size_t{1} << 24;

// zlib's input buffer for reading. The default of 8 KiB costs one read()
// system call per 8 KiB of the file.
constexpr unsigned kReadBufferBytes = 1u << 20;

// Maximum capacity reserved before any data is read. A corrupt header can
// declare terabytes, and such a file should fail as truncated data rather
// than with std::bad_alloc. Larger arrays still load, by growing the vector.
constexpr std::size_t kMaxReserveBytes = std::size_t{1} << 28;

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw InputError(path + ": " + problem);
}

std::string hex_byte(std::uint8_t value) {
  char text[3];
  std::snprintf(text, sizeof text, "%02x", value);
  return text;
}

std::string hex_bytes(const std::uint8_t* bytes, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) text += ' ';
    text += hex_byte(bytes[i]);
  }
  return text;
}

// Formats dimensions as "60000 x 28 x 28".
std::string format_dims(const std::vector<std::int64_t>& dims) {
  std::string text;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += " x ";
    text += std::to_string(dims[i]);
  }
  return text;
}

// Names the element types that the IDX format defines.
const char* element_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "16-bit integer";
    case 0x0C:
      return "32-bit integer";
    case 0x0D:
      return "32-bit float";
    case 0x0E:
      return "64-bit float";
    default:
      return "not defined by the IDX format";
  }
}

// Returns strerror's text, or `fallback` for a zlib failure that left errno 0.
std::string errno_text(int error_number, const char* fallback) {
  if (error_number == 0) return fallback;
  return std::strerror(error_number);
}

// Returns zlib's message for the last error on `file` and stores its code.
// zlib prefixes messages with the path it was opened with, which the caller
// already puts in front, so the prefix is dropped.
std::string zlib_error_text(gzFile file, const std::string& path, int* code) {
  const char* message = gzerror(file, code);
  std::string text = message != nullptr ? message : "unknown error";
  const std::string prefix = path + ": ";
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  return text;
}

[[noreturn]] void fail_read(gzFile file, const std::string& path) {
  int code = Z_OK;
  const std::string text = zlib_error_text(file, path, &code);
  if (code == Z_DATA_ERROR) {
    fail(path, "the gzip stream is corrupt (zlib: " + text +
                   "). Download or generate the file again.");
  }
  fail(path, "failed to read: " + text +
                 ". Check that the path names a readable file.");
}

// Returns a sentence to append to a truncation message. zlib reports
// Z_BUF_ERROR after a short read when a gzip stream ends before its trailer.
std::string truncation_advice(gzFile file, const std::string& path) {
  int code = Z_OK;
  const std::string text = zlib_error_text(file, path, &code);
  if (code == Z_BUF_ERROR) {
    return " The gzip stream is cut off too (zlib: " + text +
           "). Download or generate the file again.";
  }
  return " Download or generate the file again.";
}

// Reads up to `count` bytes and returns how many were read. Fewer than
// `count` means the file ended.
std::size_t read_up_to(gzFile file, const std::string& path,
                       std::uint8_t* buffer, std::size_t count) {
  std::size_t total = 0;
  while (total < count) {
    const auto request =
        static_cast<unsigned>(std::min(count - total, kChunkBytes));
    const int got = gzread(file, buffer + total, request);
    if (got < 0) fail_read(file, path);
    if (got == 0) break;
    total += static_cast<std::size_t>(got);
  }
  return total;
}

GzHandle open_for_reading(const std::string& path) {
  errno = 0;
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) {
    fail(path, "failed to open the IDX file: " +
                   errno_text(errno, "zlib could not allocate its state") +
                   ". Check the path and its permissions.");
  }
  // A failure here only leaves the default buffer size, so it is ignored.
  gzbuffer(file.get(), kReadBufferBytes);
  return file;
}

// Reads the 4-byte magic number, checks it and returns the dimension count.
std::size_t read_magic(gzFile file, const std::string& path) {
  std::array<std::uint8_t, kMagicBytes> magic{};
  const std::size_t got = read_up_to(file, path, magic.data(), magic.size());
  if (got < magic.size()) {
    fail(path,
         "the header is truncated: expected a 4-byte magic number, found " +
             std::to_string(got) + " bytes." + truncation_advice(file, path));
  }

  const std::string magic_hex = hex_bytes(magic.data(), magic.size());
  if (magic[0] != 0 || magic[1] != 0) {
    // gzdirect is 0 when zlib found a gzip header and decompressed the bytes.
    const char* origin = gzdirect(file) == 0 ? " after gzip decompression" : "";
    fail(path, "not an IDX file: the magic number" + std::string(origin) +
                   " is " + magic_hex +
                   ", but an IDX magic number starts with 00 00 (for example "
                   "00 00 08 03 for images). Check that the path names an "
                   "MNIST-format file.");
  }
  if (magic[2] != kUnsignedByteType) {
    fail(path, "unsupported element type code 0x" + hex_byte(magic[2]) + " (" +
                   element_type_name(magic[2]) + ") in the magic number " +
                   magic_hex +
                   ". Only unsigned-byte elements (type code 0x08) "
                   "are supported, so convert the file to bytes.");
  }

  const std::size_t dim_count = magic[3];
  if (dim_count == 0 || dim_count > kMaxDims) {
    fail(path, "invalid dimension count " + std::to_string(dim_count) +
                   " in the magic number " + magic_hex +
                   ": expected 1 to 4 dimensions.");
  }
  return dim_count;
}

// Reads `dim_count` big-endian uint32 dimensions and checks that each is
// positive and that their product fits in std::int64_t.
std::vector<std::int64_t> read_dims(gzFile file, const std::string& path,
                                    std::size_t dim_count) {
  std::array<std::uint8_t, kMaxDims * kDimBytes> bytes{};
  const std::size_t expected = dim_count * kDimBytes;
  const std::size_t got = read_up_to(file, path, bytes.data(), expected);
  if (got < expected) {
    fail(path, "the header is truncated: expected " + std::to_string(expected) +
                   " bytes of dimension sizes for " +
                   std::to_string(dim_count) + " dimensions, found " +
                   std::to_string(got) + "." + truncation_advice(file, path));
  }

  std::vector<std::int64_t> dims;
  std::int64_t product = 1;
  for (std::size_t i = 0; i < dim_count; ++i) {
    const std::uint8_t* b = bytes.data() + i * kDimBytes;
    const std::int64_t dim = (std::int64_t{b[0]} << 24) |
                             (std::int64_t{b[1]} << 16) |
                             (std::int64_t{b[2]} << 8) | std::int64_t{b[3]};
    if (dim == 0) {
      fail(path, "dimension " + std::to_string(i + 1) + " of " +
                     std::to_string(dim_count) +
                     " has size 0, but every dimension must be at least 1.");
    }
    if (product > std::numeric_limits<std::int64_t>::max() / dim) {
      fail(path,
           "the header is corrupt: its dimensions declare more than "
           "2^63 data bytes.");
    }
    product *= dim;
    dims.push_back(dim);
  }
  return dims;
}

std::int64_t element_count(const std::vector<std::int64_t>& dims) {
  std::int64_t count = 1;
  for (const std::int64_t dim : dims) count *= dim;
  return count;
}

// Reads the data bytes that `dims` declare. It reads in chunks, so that the
// memory in use grows with what the file really contains.
std::vector<std::uint8_t> read_data(gzFile file, const std::string& path,
                                    const std::vector<std::int64_t>& dims) {
  const auto expected = static_cast<std::size_t>(element_count(dims));
  std::vector<std::uint8_t> data;
  data.reserve(std::min(expected, kMaxReserveBytes));

  while (data.size() < expected) {
    const std::size_t old_size = data.size();
    const std::size_t request = std::min(expected - old_size, kChunkBytes);
    data.resize(old_size + request);
    const std::size_t got =
        read_up_to(file, path, data.data() + old_size, request);
    if (got < request) {
      fail(path, "the data is truncated: expected " + std::to_string(expected) +
                     " data bytes for dimensions " + format_dims(dims) +
                     ", found " + std::to_string(old_size + got) + "." +
                     truncation_advice(file, path));
    }
  }
  return data;
}

// Reads to the end of the file and returns the number of bytes left.
std::uint64_t count_remaining_bytes(gzFile file, const std::string& path) {
  std::vector<std::uint8_t> scratch(std::size_t{1} << 16);
  std::uint64_t total = 0;
  for (;;) {
    const std::size_t got =
        read_up_to(file, path, scratch.data(), scratch.size());
    total += got;
    if (got < scratch.size()) return total;
  }
}

// Throws InputError if a gzip stream ended before its 8-byte trailer. zlib
// reports this only through gzerror, and without the trailer it cannot run
// the CRC-32 check, so even complete data may be damaged.
void check_gzip_trailer(gzFile file, const std::string& path) {
  int code = Z_OK;
  const std::string text = zlib_error_text(file, path, &code);
  if (code != Z_BUF_ERROR) return;
  fail(path, "the gzip stream is cut off before its trailer (zlib: " + text +
                 "), so its checksum cannot be verified. Download or "
                 "generate the file again.");
}

// Throws InputError unless `array` has as many dimensions as `layout` names,
// for example "count, rows, cols".
void check_dimension_count(const std::string& path, const IdxArray& array,
                           const std::string& role, std::size_t expected,
                           const std::string& layout) {
  if (array.dims.size() == expected) return;
  fail(path, "expected " + role + " file with " + std::to_string(expected) +
                 (expected == 1 ? " dimension" : " dimensions") + " (" +
                 layout + "), found " + std::to_string(array.dims.size()) +
                 " (" + format_dims(array.dims) +
                 "). Check that the images and labels paths are not swapped.");
}

// Throws InputError naming the first label that is not below num_classes.
void check_labels(const std::string& labels_path,
                  const std::vector<std::uint8_t>& labels, int num_classes) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < num_classes) continue;
    fail(labels_path,
         "label " + std::to_string(labels[i]) + " at index " +
             std::to_string(i) + " is out of range for " +
             std::to_string(num_classes) + " classes (expected 0 to " +
             std::to_string(num_classes - 1) +
             "). Raise the number of classes or use a labels file that "
             "matches it.");
  }
}

// Throws std::invalid_argument unless `array` can be stored as an IDX file.
void validate_array(const IdxArray& array) {
  if (array.dims.empty() || array.dims.size() > kMaxDims) {
    throw std::invalid_argument(
        "write_idx: an IDX array needs 1 to 4 dimensions, got " +
        std::to_string(array.dims.size()));
  }
  std::uint64_t product = 1;
  for (const std::int64_t dim : array.dims) {
    if (dim < 1 ||
        dim > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
      throw std::invalid_argument("write_idx: dimension " +
                                  std::to_string(dim) +
                                  " is outside 1 to 2^32-1");
    }
    // Four factors below 2^32 can overflow 64 bits, but then the product
    // exceeds any vector size, so saturating keeps the comparison correct.
    const auto factor = static_cast<std::uint64_t>(dim);
    product = product > std::numeric_limits<std::uint64_t>::max() / factor
                  ? std::numeric_limits<std::uint64_t>::max()
                  : product * factor;
  }
  if (product != array.data.size()) {
    throw std::invalid_argument("write_idx: dimensions " +
                                format_dims(array.dims) + " need " +
                                std::to_string(product) + " data bytes, got " +
                                std::to_string(array.data.size()));
  }
}

std::vector<std::uint8_t> encode_header(const std::vector<std::int64_t>& dims) {
  std::vector<std::uint8_t> header = {0, 0, kUnsignedByteType,
                                      static_cast<std::uint8_t>(dims.size())};
  for (const std::int64_t dim : dims) {
    const auto value = static_cast<std::uint32_t>(dim);
    for (int shift = 24; shift >= 0; shift -= 8) {
      header.push_back(static_cast<std::uint8_t>(value >> shift));
    }
  }
  return header;
}

void write_all(gzFile file, const std::string& path,
               const std::vector<std::uint8_t>& bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const auto request =
        static_cast<unsigned>(std::min(bytes.size() - written, kChunkBytes));
    // gzwrite returns 0 on error and otherwise writes the whole request.
    if (gzwrite(file, bytes.data() + written, request) == 0) {
      int code = Z_OK;
      fail(path, "failed to write: " + zlib_error_text(file, path, &code) +
                     ". Check the free disk space and the file size limit.");
    }
    written += request;
  }
}

// Removes a partly written output file. Only a regular file is removed, so
// that a failed write to a device such as /dev/full leaves the device alone.
void remove_partial_file(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    std::filesystem::remove(path, error);
  }
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const GzHandle file = open_for_reading(path);

  IdxArray array;
  const std::size_t dim_count = read_magic(file.get(), path);
  array.dims = read_dims(file.get(), path, dim_count);
  array.data = read_data(file.get(), path, array.dims);

  const std::uint64_t extra = count_remaining_bytes(file.get(), path);
  if (extra > 0) {
    fail(path, "found " + std::to_string(extra) + " extra bytes after the " +
                   std::to_string(array.data.size()) +
                   " data bytes for dimensions " + format_dims(array.dims) +
                   ". The header does not match the data, so generate the "
                   "file again.");
  }
  // NOTE: zlib 1.2.13 ignores bytes after the end of a gzip stream that do
  // not start another gzip member, so such trailing bytes are not detected.
  check_gzip_trailer(file.get(), path);
  return array;
}

LabeledImages read_labeled_images(const std::string& images_path,
                                  const std::string& labels_path,
                                  int num_classes) {
  if (num_classes < 1) {
    throw InputError("invalid number of classes " +
                     std::to_string(num_classes) + " for the labels in " +
                     labels_path + ": expected at least 1.");
  }

  IdxArray images = read_idx(images_path);
  check_dimension_count(images_path, images, "an images", 3,
                        "count, rows, cols");
  IdxArray labels = read_idx(labels_path);
  check_dimension_count(labels_path, labels, "a labels", 1, "count");

  const std::int64_t image_count = images.dims[0];
  const std::int64_t label_count = labels.dims[0];
  if (image_count != label_count) {
    throw InputError("the image count " + std::to_string(image_count) + " in " +
                     images_path + " differs from the label count " +
                     std::to_string(label_count) + " in " + labels_path +
                     ". Use the images and labels files of the same set, "
                     "for example both train or both t10k.");
  }
  check_labels(labels_path, labels.data, num_classes);

  LabeledImages result;
  result.count = image_count;
  result.rows = images.dims[1];
  result.cols = images.dims[2];
  result.pixels = std::move(images.data);
  result.labels = std::move(labels.data);
  return result;
}

void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  validate_array(array);

  // Mode "T" writes the bytes unchanged, so one code path serves both forms.
  errno = 0;
  GzHandle file(gzopen(path.c_str(), gzip ? "wb" : "wbT"));
  if (!file) {
    fail(path, "failed to open for writing: " +
                   errno_text(errno, "zlib could not allocate its state") +
                   ". Check that the directory exists and is writable.");
  }

  try {
    write_all(file.get(), path, encode_header(array.dims));
    write_all(file.get(), path, array.data);
    // gzclose flushes the last buffered bytes, so it can fail too. It frees
    // the state either way, and its message with it, so errno is the cause.
    errno = 0;
    if (gzclose(file.release()) != Z_OK) {
      fail(path, "failed to write: " +
                     errno_text(errno, "zlib failed to flush the last bytes") +
                     ". Check the free disk space.");
    }
  } catch (const InputError&) {
    file.reset();
    remove_partial_file(path);
    throw;
  }
}

}  // namespace pipar
