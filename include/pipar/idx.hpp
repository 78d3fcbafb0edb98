// Reader and writer for IDX files, the format of the MNIST and Fashion-MNIST
// data sets, with unsigned-byte elements, plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pipar {

// An n-dimensional array of unsigned bytes (IDX element type 0x08).
struct IdxArray {
  std::vector<std::int64_t> dims;  // e.g. {60000, 28, 28}
  std::vector<std::uint8_t> data;  // row-major, product(dims) bytes
};

// Reads an IDX file of unsigned bytes with 1 to 4 dimensions, gzip-compressed
// or plain (zlib detects which). The file must end right after the data.
// Throws InputError, naming the path, if the file cannot be read, is not an
// unsigned-byte IDX file with 1 to 4 dimensions, is truncated, has a corrupt
// gzip stream or has bytes after the data.
IdxArray read_idx(const std::string& path);

// Images and their class labels, read from a pair of IDX files.
struct LabeledImages {
  std::int64_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count*rows*cols bytes, row-major
  std::vector<std::uint8_t> labels;  // count bytes, each < num_classes
};

// Reads an images file (3 dimensions: count, rows, cols) and a labels file
// (1 dimension: count) with read_idx. Throws InputError if num_classes is not
// positive, if either file has the wrong number of dimensions, if the counts
// differ or if a label is not below num_classes.
LabeledImages read_labeled_images(const std::string& images_path,
                                  const std::string& labels_path,
                                  int num_classes);

// Writes `array` as an IDX file of unsigned bytes, gzip-compressed when `gzip`
// is true, replacing any existing file. Throws std::invalid_argument if the
// array has 0 or more than 4 dimensions, a dimension outside 1..2^32-1 or a
// data size other than the product of its dimensions. Throws InputError if the
// file cannot be written, and then removes what was written of it.
void write_idx(const std::string& path, const IdxArray& array, bool gzip);

}  // namespace pipar
