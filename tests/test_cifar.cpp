// Tests of the CIFAR-10 and CIFAR-100 binary-version reader on small files
// written in the real record format: channel order, pixel positions, labels
// and every rejected file.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipar/cifar.hpp"
#include "temp_files.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using pipar::CifarVariant;
using pipar::testing::Contains;
using pipar::testing::input_error_message;
using pipar::testing::TempDir;
using pipar::testing::write_bytes;

constexpr std::size_t kPlane = 32 * 32;
constexpr std::size_t kImage = 3 * kPlane;

// The pixel bytes of one image: every red value `red`, green `green`, blue
// `blue`.
Bytes planes(std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
  Bytes pixels(kImage);
  std::fill(pixels.begin(), pixels.begin() + kPlane, red);
  std::fill(pixels.begin() + kPlane, pixels.begin() + 2 * kPlane, green);
  std::fill(pixels.begin() + 2 * kPlane, pixels.end(), blue);
  return pixels;
}

// Appends a record: the label bytes, then the pixels.
void append_record(Bytes& file, const Bytes& labels, const Bytes& pixels) {
  file.insert(file.end(), labels.begin(), labels.end());
  file.insert(file.end(), pixels.begin(), pixels.end());
}

// Index of a pixel of image `image` in an ImageSet of 3x32x32 images.
std::size_t pixel_index(std::size_t image, std::size_t channel, std::size_t row,
                        std::size_t col) {
  return image * kImage + channel * kPlane + row * 32 + col;
}

// A CIFAR-10 file of three records with labels 3, 0 and 9. Record 0 has
// red 1, green 2 and blue 3; record 1 is black but for red 200 at row 1,
// column 2 and blue 77 at row 31, column 0; record 2 is mid-grey.
Bytes three_cifar10_records() {
  Bytes file;
  append_record(file, {3}, planes(1, 2, 3));
  Bytes marked = planes(0, 0, 0);
  marked[1 * 32 + 2] = 200;
  marked[2 * kPlane + 31 * 32 + 0] = 77;
  append_record(file, {0}, marked);
  append_record(file, {9}, planes(128, 128, 128));
  return file;
}

std::string read_cifar_error(CifarVariant variant, const std::vector<std::string>& paths,
                             std::int64_t records_per_file = 0) {
  return input_error_message([&] { pipar::read_cifar(variant, paths, records_per_file); });
}

// ---- CIFAR-10 ----

TEST(Cifar10, RecordBytes) {
  EXPECT_EQ(pipar::cifar_record_bytes(CifarVariant::kCifar10), 3073);
  EXPECT_EQ(pipar::cifar_record_bytes(CifarVariant::kCifar100), 3074);
}

TEST(Cifar10, ReadsShapeAndLabels) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  write_bytes(path, three_cifar10_records());

  const pipar::ImageSet set = pipar::read_cifar(CifarVariant::kCifar10, {path});

  EXPECT_EQ(set.count, 3);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.rows, 32);
  EXPECT_EQ(set.cols, 32);
  EXPECT_EQ(set.pixels.size(), 3 * kImage);
  EXPECT_EQ(set.labels, (Bytes{3, 0, 9}));
}

TEST(Cifar10, PlanesAreRedGreenBlue) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  write_bytes(path, three_cifar10_records());

  const pipar::ImageSet set = pipar::read_cifar(CifarVariant::kCifar10, {path});

  for (std::size_t row = 0; row < 32; ++row) {
    for (std::size_t col = 0; col < 32; ++col) {
      EXPECT_EQ(set.pixels[pixel_index(0, 0, row, col)], 1) << row << ", " << col;
      EXPECT_EQ(set.pixels[pixel_index(0, 1, row, col)], 2) << row << ", " << col;
      EXPECT_EQ(set.pixels[pixel_index(0, 2, row, col)], 3) << row << ", " << col;
    }
  }
  EXPECT_EQ(set.pixels[pixel_index(2, 1, 17, 4)], 128);
}

TEST(Cifar10, PixelRowAndColumn) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  write_bytes(path, three_cifar10_records());

  const pipar::ImageSet set = pipar::read_cifar(CifarVariant::kCifar10, {path});

  EXPECT_EQ(set.pixels[pixel_index(1, 0, 1, 2)], 200);
  EXPECT_EQ(set.pixels[pixel_index(1, 0, 2, 1)], 0);  // the transposed position
  EXPECT_EQ(set.pixels[pixel_index(1, 2, 31, 0)], 77);
  EXPECT_EQ(set.pixels[pixel_index(1, 2, 0, 31)], 0);
}

TEST(Cifar10, FilesConcatenateInOrder) {
  TempDir dir;
  Bytes first;
  append_record(first, {4}, planes(10, 10, 10));
  append_record(first, {5}, planes(11, 11, 11));
  Bytes second;
  append_record(second, {6}, planes(12, 12, 12));
  write_bytes(dir.file("a.bin"), first);
  write_bytes(dir.file("b.bin"), second);

  const pipar::ImageSet set =
      pipar::read_cifar(CifarVariant::kCifar10, {dir.file("a.bin"), dir.file("b.bin")});

  ASSERT_EQ(set.count, 3);
  EXPECT_EQ(set.labels, (Bytes{4, 5, 6}));
  EXPECT_EQ(set.pixels[pixel_index(2, 0, 0, 0)], 12);
}

TEST(Cifar10, ExpectedRecordCountAccepted) {
  TempDir dir;
  const std::string path = dir.file("test_batch.bin");
  write_bytes(path, three_cifar10_records());

  EXPECT_EQ(pipar::read_cifar(CifarVariant::kCifar10, {path}, 3).count, 3);
}

TEST(Cifar10, SizeNotWholeRecords) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  Bytes bytes = three_cifar10_records();
  bytes.resize(2 * 3073 + 100);
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "file size of 6246 bytes"));
  EXPECT_TRUE(Contains(message, "not a whole number of 3073-byte CIFAR-10 records"));
  EXPECT_TRUE(Contains(message, "2 records and 100 bytes more"));
  EXPECT_TRUE(Contains(message, "https://www.cs.toronto.edu/~kriz/cifar.html"));
}

TEST(Cifar10, Cifar100FileNamed) {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  Bytes bytes;
  append_record(bytes, {1, 2}, planes(0, 0, 0));
  append_record(bytes, {1, 2}, planes(0, 0, 0));
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "may be a CIFAR-100 file"));
}

TEST(Cifar10, TruncatedFileHasFewerRecords) {
  TempDir dir;
  const std::string path = dir.file("data_batch_3.bin");
  Bytes bytes = three_cifar10_records();
  bytes.resize(2 * 3073);
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path}, 3);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "contains 2 records"));
  EXPECT_TRUE(Contains(message, "contains 3"));
  EXPECT_TRUE(Contains(message, "truncated"));
}

TEST(Cifar10, ExtraRecordsRejected) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  write_bytes(path, three_cifar10_records());
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path}, 2);

  EXPECT_TRUE(Contains(message, "contains 3 records"));
  EXPECT_TRUE(Contains(message, "not an original file"));
}

TEST(Cifar10, LabelAboveNine) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  Bytes bytes = three_cifar10_records();
  bytes[2 * 3073] = 10;
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "record 2 (counting from 0) has label 10"));
  EXPECT_TRUE(Contains(message, "0 to 9"));
}

TEST(Cifar10, EmptyFile) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  write_bytes(path, {});
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "the file is empty"));
}

TEST(Cifar10, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "failed to open"));
  EXPECT_TRUE(Contains(message, "No such file or directory"));
}

TEST(Cifar10, DirectoryRejected) {
  TempDir dir;
  const std::string path = dir.file("data_batch_1.bin");
  std::filesystem::create_directory(path);
  const std::string message = read_cifar_error(CifarVariant::kCifar10, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "not a regular file"));
}

// ---- CIFAR-100 ----

TEST(Cifar100, ClassIsFineLabel) {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  Bytes bytes;
  append_record(bytes, {19, 99}, planes(1, 2, 3));
  append_record(bytes, {3, 42}, planes(4, 5, 6));
  write_bytes(path, bytes);

  const pipar::ImageSet set = pipar::read_cifar(CifarVariant::kCifar100, {path});

  ASSERT_EQ(set.count, 2);
  EXPECT_EQ(set.labels, (Bytes{99, 42}));
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 0, 0)], 1);
  EXPECT_EQ(set.pixels[pixel_index(0, 1, 31, 31)], 2);
  EXPECT_EQ(set.pixels[pixel_index(0, 2, 0, 0)], 3);
  EXPECT_EQ(set.pixels[pixel_index(1, 0, 5, 5)], 4);
  EXPECT_EQ(set.pixels[pixel_index(1, 2, 31, 31)], 6);
}

TEST(Cifar100, PixelRowAndColumn) {
  TempDir dir;
  const std::string path = dir.file("test.bin");
  Bytes pixels = planes(0, 0, 0);
  pixels[kPlane + 1 * 32 + 2] = 99;  // green, row 1, column 2
  Bytes bytes;
  append_record(bytes, {0, 0}, pixels);
  write_bytes(path, bytes);

  const pipar::ImageSet set = pipar::read_cifar(CifarVariant::kCifar100, {path});

  EXPECT_EQ(set.pixels[pixel_index(0, 1, 1, 2)], 99);
  EXPECT_EQ(set.pixels[pixel_index(0, 1, 2, 1)], 0);
}

TEST(Cifar100, FineLabelAbove99) {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  Bytes bytes;
  append_record(bytes, {0, 5}, planes(0, 0, 0));
  append_record(bytes, {0, 100}, planes(0, 0, 0));
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar100, {path});

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "record 1 (counting from 0) has fine label 100"));
  EXPECT_TRUE(Contains(message, "0 to 99"));
}

TEST(Cifar100, CoarseLabelAbove19) {
  TempDir dir;
  const std::string path = dir.file("train.bin");
  Bytes bytes;
  append_record(bytes, {20, 5}, planes(0, 0, 0));
  write_bytes(path, bytes);
  const std::string message = read_cifar_error(CifarVariant::kCifar100, {path});

  EXPECT_TRUE(Contains(message, "coarse label 20"));
  EXPECT_TRUE(Contains(message, "0 to 19"));
}

TEST(Cifar100, Cifar10FileNamed) {
  TempDir dir;
  const std::string path = dir.file("test.bin");
  write_bytes(path, three_cifar10_records());
  const std::string message = read_cifar_error(CifarVariant::kCifar100, {path});

  EXPECT_TRUE(Contains(message, "not a whole number of 3074-byte CIFAR-100 records"));
  EXPECT_TRUE(Contains(message, "may be a CIFAR-10 file"));
}

}  // namespace
