// Tests of the IDX reader and writer: round trips, every rejected input with
// its message, and the real Fashion-MNIST files when they are installed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipar/error.hpp"
#include "pipar/idx.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const std::string kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/pipar_idx_test_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("failed to write test file " + path);
}

// Gzips `bytes` into `path` without any check of their content.
void write_gzip_bytes(const std::string& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error("gzopen failed for " + path);
  const int written =
      gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  const int closed = gzclose(file);
  if (written != static_cast<int>(bytes.size()) || closed != Z_OK) {
    throw std::runtime_error("failed to gzip test file " + path);
  }
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in),
               std::istreambuf_iterator<char>());
}

// Returns `count` bytes that differ from their neighbours and compress poorly,
// so that a cut gzip file loses data and a reordering shows up.
Bytes pattern_bytes(std::size_t count) {
  Bytes bytes(count);
  std::uint32_t state = 12345;
  for (auto& byte : bytes) {
    state = state * 1103515245u + 12345u;
    byte = static_cast<std::uint8_t>(state >> 16);
  }
  return bytes;
}

// Encodes an IDX header with any magic bytes and big-endian dimensions.
Bytes idx_header(std::uint8_t type, std::uint8_t dim_count,
                 const std::vector<std::uint32_t>& dims) {
  Bytes header = {0, 0, type, dim_count};
  for (const std::uint32_t dim : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      header.push_back(static_cast<std::uint8_t>(dim >> shift));
    }
  }
  return header;
}

// Encodes a valid unsigned-byte header followed by `data_bytes` bytes of data.
Bytes idx_file(const std::vector<std::uint32_t>& dims, std::size_t data_bytes) {
  Bytes bytes = idx_header(0x08, static_cast<std::uint8_t>(dims.size()), dims);
  const Bytes data = pattern_bytes(data_bytes);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

// Runs `action` and returns the message of the InputError that it throws.
// Records a failure when it throws nothing. Other exceptions fail the test
// through GoogleTest's handler.
template <typename Action>
std::string input_error_message(Action action) {
  try {
    action();
  } catch (const pipar::InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected pipar::InputError, but nothing was thrown";
  return "";
}

::testing::AssertionResult Contains(const std::string& text,
                                    const std::string& part) {
  if (text.find(part) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "message \"" << text << "\" does not contain \"" << part << "\"";
}

std::string read_idx_error(const std::string& path) {
  return input_error_message([&] { pipar::read_idx(path); });
}

pipar::IdxArray make_array(std::vector<std::int64_t> dims) {
  std::size_t size = 1;
  for (const std::int64_t dim : dims) size *= static_cast<std::size_t>(dim);
  return pipar::IdxArray{std::move(dims), pattern_bytes(size)};
}

// Writes a labels file with the given labels and an images file with one
// 2 x 3 image per entry of `image_count`.
void write_pair(const std::string& images_path, const std::string& labels_path,
                std::int64_t image_count, const Bytes& labels) {
  pipar::write_idx(images_path, make_array({image_count, 2, 3}), true);
  const auto label_count = static_cast<std::int64_t>(labels.size());
  pipar::write_idx(labels_path, pipar::IdxArray{{label_count}, labels}, true);
}

// ---- Round trips ----

TEST(IdxRoundTrip, PlainFile) {
  TempDir dir;
  const std::string path = dir.file("images.idx");
  const pipar::IdxArray written = make_array({5, 7, 3});

  pipar::write_idx(path, written, false);
  const pipar::IdxArray read = pipar::read_idx(path);

  EXPECT_EQ(read.dims, written.dims);
  EXPECT_EQ(read.data, written.data);
}

TEST(IdxRoundTrip, GzipFile) {
  TempDir dir;
  const std::string path = dir.file("images.idx.gz");
  const pipar::IdxArray written = make_array({5, 7, 3});

  pipar::write_idx(path, written, true);
  const pipar::IdxArray read = pipar::read_idx(path);

  EXPECT_EQ(read.dims, written.dims);
  EXPECT_EQ(read.data, written.data);
}

TEST(IdxRoundTrip, OneToFourDimensions) {
  TempDir dir;
  const std::vector<std::vector<std::int64_t>> shapes = {
      {9}, {4, 5}, {3, 4, 5}, {2, 3, 4, 5}};
  for (const auto& dims : shapes) {
    const std::string path =
        dir.file("array" + std::to_string(dims.size()) + ".gz");
    const pipar::IdxArray written = make_array(dims);

    pipar::write_idx(path, written, true);
    const pipar::IdxArray read = pipar::read_idx(path);

    EXPECT_EQ(read.dims, written.dims) << dims.size() << " dimensions";
    EXPECT_EQ(read.data, written.data) << dims.size() << " dimensions";
  }
}

TEST(IdxRoundTrip, LargeArrayAcrossChunks) {
  // 17 MiB exceeds the reader's 16 MiB chunk, so the data takes two gzread
  // calls. A plain file keeps the test fast, and gzread reads both alike.
  TempDir dir;
  const std::string path = dir.file("large.idx");
  const pipar::IdxArray written = make_array({17, 1024, 1024});

  pipar::write_idx(path, written, false);
  const pipar::IdxArray read = pipar::read_idx(path);

  EXPECT_EQ(read.dims, written.dims);
  EXPECT_TRUE(read.data == written.data);
}

// ---- Writer ----

TEST(IdxWrite, PlainFileHasIdxMagic) {
  TempDir dir;
  const std::string path = dir.file("labels.idx");
  pipar::write_idx(path, pipar::IdxArray{{3}, {7, 8, 9}}, false);

  const Bytes expected = {0, 0, 0x08, 0x01, 0, 0, 0, 3, 7, 8, 9};
  EXPECT_EQ(read_bytes(path), expected);
}

TEST(IdxWrite, GzipFileHasGzipMagic) {
  TempDir dir;
  const std::string path = dir.file("labels.idx.gz");
  pipar::write_idx(path, pipar::IdxArray{{3}, {7, 8, 9}}, true);

  const Bytes bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes[0], 0x1f);
  EXPECT_EQ(bytes[1], 0x8b);
}

TEST(IdxWrite, MissingDirectoryThrows) {
  TempDir dir;
  const std::string path = dir.file("no_such_dir/labels.idx");
  const std::string message = input_error_message([&] {
    pipar::write_idx(path, pipar::IdxArray{{1}, {0}}, false);
  });

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "No such file or directory"));
}

TEST(IdxWrite, InconsistentArrayRejected) {
  TempDir dir;
  const std::string path = dir.file("bad.idx");
  const std::vector<pipar::IdxArray> invalid = {
      {{}, {}},                       // no dimensions
      {{1, 1, 1, 1, 1}, {0}},         // five dimensions
      {{2, 0}, {}},                   // a zero dimension
      {{-1}, {}},                     // a negative dimension
      {{std::int64_t{1} << 32}, {}},  // a dimension above 2^32-1
      {{2, 3}, {1, 2, 3, 4, 5}},      // 5 data bytes for 6 elements
  };
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    EXPECT_THROW(pipar::write_idx(path, invalid[i], false),
                 std::invalid_argument)
        << "case " << i;
    EXPECT_FALSE(fs::exists(path)) << "case " << i;
  }
}

// A file size limit makes write() fail with EFBIG partway through the data.
// It runs in a child process so that the limit cannot affect other tests.
TEST(IdxWriteDeathTest, FailedWriteRemovesFile) {
  TempDir dir;
  const std::string path = dir.file("partial.idx");
  const pipar::IdxArray array = make_array({100, 100});

  const auto write_past_limit = [&] {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = 1024;
    setrlimit(RLIMIT_FSIZE, &limit);
    try {
      pipar::write_idx(path, array, false);
    } catch (const pipar::InputError& error) {
      std::cerr << error.what() << std::endl;
      std::_Exit(0);
    }
    std::cerr << "write_idx did not throw" << std::endl;
    std::_Exit(1);
  };

  EXPECT_EXIT(write_past_limit(), ::testing::ExitedWithCode(0),
              "failed to write: File too large");
  EXPECT_FALSE(fs::exists(path));
}

// ---- Reader errors ----

TEST(IdxRead, MissingFileNamesCause) {
  TempDir dir;
  const std::string path = dir.file("missing.idx");
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "failed to open"));
  EXPECT_TRUE(Contains(message, "No such file or directory"));
}

TEST(IdxRead, DirectoryPathFails) {
  TempDir dir;
  const std::string path = dir.file("folder");
  fs::create_directory(path);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "Is a directory"));
}

TEST(IdxRead, WrongMagicShowsBytes) {
  TempDir dir;
  const std::string path = dir.file("archive.zip");
  write_bytes(path, {0x50, 0x4b, 0x03, 0x04, 0x14, 0x00});
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "not an IDX file"));
  EXPECT_TRUE(Contains(message, "magic number is 50 4b 03 04"));
}

TEST(IdxRead, WrongMagicInsideGzip) {
  TempDir dir;
  const std::string path = dir.file("text.gz");
  write_gzip_bytes(path, {'h', 'e', 'l', 'l', 'o'});
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "after gzip decompression is 68 65 6c 6c"));
}

TEST(IdxRead, FloatElementTypeRejected) {
  TempDir dir;
  const std::string path = dir.file("floats.idx");
  Bytes bytes = idx_header(0x0D, 1, {2});
  bytes.resize(bytes.size() + 8);
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "element type code 0x0d (32-bit float)"));
  EXPECT_TRUE(Contains(message, "0x08"));
}

TEST(IdxRead, ZeroDimensionCountRejected) {
  TempDir dir;
  const std::string path = dir.file("scalar.idx");
  write_bytes(path, idx_header(0x08, 0, {}));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "invalid dimension count 0"));
  EXPECT_TRUE(Contains(message, "1 to 4"));
}

TEST(IdxRead, FiveDimensionsRejected) {
  TempDir dir;
  const std::string path = dir.file("five.idx");
  write_bytes(path, idx_file({1, 1, 1, 1, 1}, 1));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "invalid dimension count 5"));
  EXPECT_TRUE(Contains(message, "1 to 4"));
}

TEST(IdxRead, EmptyFileIsTruncatedHeader) {
  TempDir dir;
  const std::string path = dir.file("empty.idx");
  write_bytes(path, {});
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "header is truncated"));
  EXPECT_TRUE(Contains(message, "found 0 bytes"));
}

TEST(IdxRead, TruncatedDimensionSizes) {
  TempDir dir;
  const std::string path = dir.file("short_header.idx");
  Bytes bytes = idx_header(0x08, 3, {10, 28, 28});
  bytes.resize(4 + 5);
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "header is truncated"));
  EXPECT_TRUE(Contains(message, "expected 12 bytes"));
  EXPECT_TRUE(Contains(message, "found 5"));
}

TEST(IdxRead, ZeroDimensionSizeRejected) {
  TempDir dir;
  const std::string path = dir.file("zero.idx");
  write_bytes(path, idx_header(0x08, 2, {3, 0}));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "dimension 2 of 2 has size 0"));
}

TEST(IdxRead, TruncatedDataCountsBytes) {
  TempDir dir;
  const std::string path = dir.file("short.idx");
  write_bytes(path, idx_file({3, 4}, 7));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "expected 12 data bytes"));
  EXPECT_TRUE(Contains(message, "found 7"));
}

TEST(IdxRead, TruncatedDataInsideGzip) {
  TempDir dir;
  const std::string path = dir.file("short.idx.gz");
  write_gzip_bytes(path, idx_file({3, 4}, 7));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "expected 12 data bytes"));
  EXPECT_TRUE(Contains(message, "found 7"));
}

TEST(IdxRead, HugeDeclaredSizeIsTruncated) {
  // 2^32-1 x 65535 bytes would be 281 TB, which must not be allocated up front.
  TempDir dir;
  const std::string path = dir.file("huge.idx");
  Bytes bytes = idx_header(0x08, 2, {0xFFFFFFFFu, 0xFFFFu});
  bytes.resize(bytes.size() + 100);
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "expected 281470681677825 data bytes"));
  EXPECT_TRUE(Contains(message, "found 100"));
}

TEST(IdxRead, OverflowingDimensionsRejected) {
  TempDir dir;
  const std::string path = dir.file("overflow.idx");
  write_bytes(path, idx_header(0x08, 3, {0xFFFFFFFFu, 0xFFFFFFFFu, 2}));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "more than 2^63 data bytes"));
}

TEST(IdxRead, ExtraBytesAfterData) {
  TempDir dir;
  const std::string path = dir.file("long.idx");
  write_bytes(path, idx_file({3, 4}, 15));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "3 extra bytes"));
  EXPECT_TRUE(Contains(message, "after the 12 data bytes"));
}

TEST(IdxRead, ExtraBytesInsideGzip) {
  TempDir dir;
  const std::string path = dir.file("long.idx.gz");
  write_gzip_bytes(path, idx_file({3, 4}, 15));
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "3 extra bytes"));
}

TEST(IdxRead, CorruptGzipStream) {
  TempDir dir;
  const std::string path = dir.file("corrupt.gz");
  pipar::write_idx(path, make_array({10, 10}), true);
  Bytes bytes = read_bytes(path);
  // zlib writes a 10-byte gzip header without a file name. The next byte
  // opens the first deflate block, and 0xff declares the reserved block type.
  ASSERT_GT(bytes.size(), 10u);
  bytes[10] = 0xff;
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "gzip stream is corrupt"));
  EXPECT_TRUE(Contains(message, "invalid block type"));
}

TEST(IdxRead, CutGzipFileIsTruncated) {
  TempDir dir;
  const std::string path = dir.file("cut.gz");
  pipar::write_idx(path, make_array({100, 100}), true);
  Bytes bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "expected 10000 data bytes"));
  EXPECT_TRUE(Contains(message, "gzip stream is cut off"));
}

TEST(IdxRead, GzipTrailerCutOff) {
  // The gzip trailer is the CRC-32 and the size, 8 bytes after the deflate
  // data. Without it the data may be complete but cannot be verified.
  TempDir dir;
  const std::string path = dir.file("no_trailer.gz");
  pipar::write_idx(path, make_array({3, 4}), true);
  Bytes bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 8u);
  bytes.resize(bytes.size() - 4);
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "cut off before its trailer"));
}

TEST(IdxRead, GzipChecksumMismatch) {
  TempDir dir;
  const std::string path = dir.file("bad_crc.gz");
  pipar::write_idx(path, make_array({3, 4}), true);
  Bytes bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 8u);
  bytes[bytes.size() - 8] ^= 0x01;  // first byte of the CRC-32
  write_bytes(path, bytes);
  const std::string message = read_idx_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "gzip stream is corrupt"));
  EXPECT_TRUE(Contains(message, "incorrect data check"));
}

// ---- Labeled images ----

TEST(IdxLabeledImages, ReadsMatchingPair) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  const pipar::IdxArray images = make_array({4, 2, 3});
  const Bytes labels = {0, 2, 1, 2};
  pipar::write_idx(images_path, images, true);
  pipar::write_idx(labels_path, pipar::IdxArray{{4}, labels}, false);

  const pipar::LabeledImages set =
      pipar::read_labeled_images(images_path, labels_path, 3);

  EXPECT_EQ(set.count, 4);
  EXPECT_EQ(set.rows, 2);
  EXPECT_EQ(set.cols, 3);
  EXPECT_EQ(set.pixels, images.data);
  EXPECT_EQ(set.labels, labels);
}

TEST(IdxLabeledImages, CountMismatchNamesBoth) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  write_pair(images_path, labels_path, 5, {0, 1, 0});
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(images_path, labels_path, 2); });

  EXPECT_TRUE(Contains(message, images_path));
  EXPECT_TRUE(Contains(message, labels_path));
  EXPECT_TRUE(Contains(message, "image count 5"));
  EXPECT_TRUE(Contains(message, "label count 3"));
}

TEST(IdxLabeledImages, LabelOutOfRange) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  write_pair(images_path, labels_path, 5, {0, 1, 9, 10, 12});
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(images_path, labels_path, 10); });

  EXPECT_TRUE(Contains(message, labels_path));
  EXPECT_TRUE(Contains(message, "label 10 at index 3"));
  EXPECT_TRUE(Contains(message, "10 classes"));
}

TEST(IdxLabeledImages, ImagesNeedThreeDimensions) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  pipar::write_idx(images_path, make_array({4, 6}), true);
  pipar::write_idx(labels_path, pipar::IdxArray{{4}, {0, 1, 0, 1}}, true);
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(images_path, labels_path, 2); });

  EXPECT_TRUE(Contains(message, images_path));
  EXPECT_TRUE(Contains(message, "3 dimensions (count, rows, cols)"));
  EXPECT_TRUE(Contains(message, "found 2 (4 x 6)"));
}

TEST(IdxLabeledImages, SwappedPathsRejected) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  write_pair(images_path, labels_path, 2, {0, 1});
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(labels_path, images_path, 2); });

  EXPECT_TRUE(Contains(message, labels_path));
  EXPECT_TRUE(Contains(message, "found 1 (2)"));
  EXPECT_TRUE(Contains(message, "swapped"));
}

TEST(IdxLabeledImages, LabelsNeedOneDimension) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  pipar::write_idx(images_path, make_array({2, 2, 3}), true);
  pipar::write_idx(labels_path, pipar::IdxArray{{2, 1}, {0, 1}}, true);
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(images_path, labels_path, 2); });

  EXPECT_TRUE(Contains(message, labels_path));
  EXPECT_TRUE(Contains(message, "1 dimension (count)"));
  EXPECT_TRUE(Contains(message, "found 2 (2 x 1)"));
}

TEST(IdxLabeledImages, NonPositiveClassCount) {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const std::string labels_path = dir.file("labels.gz");
  write_pair(images_path, labels_path, 2, {0, 0});
  const std::string message = input_error_message(
      [&] { pipar::read_labeled_images(images_path, labels_path, 0); });

  EXPECT_TRUE(Contains(message, "number of classes 0"));
  EXPECT_TRUE(Contains(message, "at least 1"));
}

// ---- Real data ----

// Returns how often each of the 10 Fashion-MNIST classes occurs.
std::array<int, 10> count_labels(const Bytes& labels) {
  std::array<int, 10> counts{};
  for (const std::uint8_t label : labels) ++counts.at(label);
  return counts;
}

TEST(IdxFashionMnist, TestSetShapeAndLabels) {
  const std::string images_path =
      kFashionMnistDir + "/t10k-images-idx3-ubyte.gz";
  const std::string labels_path =
      kFashionMnistDir + "/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images_path) || !fs::exists(labels_path)) {
    GTEST_SKIP()
        << "Fashion-MNIST test set not found in " << kFashionMnistDir
        << ". Install the package dataset-fashion-mnist to run this test.";
  }

  const pipar::LabeledImages set =
      pipar::read_labeled_images(images_path, labels_path, 10);

  EXPECT_EQ(set.count, 10000);
  EXPECT_EQ(set.rows, 28);
  EXPECT_EQ(set.cols, 28);
  EXPECT_EQ(set.pixels.size(), 10000u * 28 * 28);
  ASSERT_EQ(set.labels.size(), 10000u);
  const std::array<int, 10> counts = count_labels(set.labels);
  for (int label = 0; label < 10; ++label) {
    EXPECT_EQ(counts[label], 1000) << "label " << label;
  }
}

TEST(IdxFashionMnist, TrainingSetShapeAndLabels) {
  const std::string images_path =
      kFashionMnistDir + "/train-images-idx3-ubyte.gz";
  const std::string labels_path =
      kFashionMnistDir + "/train-labels-idx1-ubyte.gz";
  if (!fs::exists(images_path) || !fs::exists(labels_path)) {
    GTEST_SKIP()
        << "Fashion-MNIST training set not found in " << kFashionMnistDir
        << ". Install the package dataset-fashion-mnist to run this test.";
  }

  const pipar::LabeledImages set =
      pipar::read_labeled_images(images_path, labels_path, 10);

  EXPECT_EQ(set.count, 60000);
  EXPECT_EQ(set.rows, 28);
  EXPECT_EQ(set.cols, 28);
  EXPECT_EQ(set.pixels.size(), 60000u * 28 * 28);
  ASSERT_EQ(set.labels.size(), 60000u);
  const std::array<int, 10> counts = count_labels(set.labels);
  for (int label = 0; label < 10; ++label) {
    EXPECT_EQ(counts[label], 6000) << "label " << label;
  }
}

}  // namespace
