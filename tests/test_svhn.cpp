// Tests of the SVHN .mat reader on small files that the tests write with
// libmatio in the format of the real files, MATLAB 5 MAT-files with
// compressed variables: dimension order, channel order, the label mapping
// and every rejected file.
#include <gtest/gtest.h>
#include <matio.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipar/svhn.hpp"
#include "temp_files.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using pipar::testing::Contains;
using pipar::testing::input_error_message;
using pipar::testing::read_bytes;
using pipar::testing::TempDir;
using pipar::testing::write_bytes;

constexpr std::size_t kSide = 32;
constexpr std::size_t kPlane = kSide * kSide;
constexpr std::size_t kImage = 3 * kPlane;

// One variable to write: its data must hold the product of `dims` elements
// of `type`, in MATLAB's column-major order.
struct Variable {
  std::string name;
  matio_classes class_type;
  matio_types data_type;
  std::vector<std::size_t> dims;
  const void* data;
};

void write_mat(const std::string& path, const std::vector<Variable>& variables,
               mat_ft version = MAT_FT_MAT5, matio_compression compression = MAT_COMPRESSION_ZLIB) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, version);
  if (mat == nullptr) throw std::runtime_error("Mat_CreateVer failed for " + path);
  for (const Variable& variable : variables) {
    std::vector<std::size_t> dims = variable.dims;
    matvar_t* matvar = Mat_VarCreate(variable.name.c_str(), variable.class_type, variable.data_type,
                                     static_cast<int>(dims.size()), dims.data(),
                                     const_cast<void*>(variable.data), 0);
    const int status = matvar == nullptr ? -1 : Mat_VarWrite(mat, matvar, compression);
    Mat_VarFree(matvar);
    if (status != 0) {
      Mat_Close(mat);
      throw std::runtime_error("failed to write variable " + variable.name + " to " + path);
    }
  }
  Mat_Close(mat);
}

// Builds X for `count` images, column-major as MATLAB stores it: element
// (row, col, channel, image) at row + 32 * (col + 32 * (channel + 3 * image)).
Bytes make_x(std::size_t count,
             const std::function<std::uint8_t(std::size_t, std::size_t, std::size_t, std::size_t)>&
                 value) {
  Bytes x(count * kImage);
  for (std::size_t image = 0; image < count; ++image) {
    for (std::size_t channel = 0; channel < 3; ++channel) {
      for (std::size_t col = 0; col < kSide; ++col) {
        for (std::size_t row = 0; row < kSide; ++row) {
          x[row + kSide * (col + kSide * (channel + 3 * image))] = value(image, channel, row, col);
        }
      }
    }
  }
  return x;
}

// Image 0: red 1, green 2, blue 3, but red 200 at row 1, column 2. Image 1:
// each value encodes its position, (row + 2 * col + 100 * channel) % 256.
std::uint8_t test_pixel(std::size_t image, std::size_t channel, std::size_t row, std::size_t col) {
  if (image == 0) return channel == 0 && row == 1 && col == 2 ? 200 : static_cast<std::uint8_t>(channel + 1);
  return static_cast<std::uint8_t>((row + 2 * col + 100 * channel) % 256);
}

std::size_t pixel_index(std::size_t image, std::size_t channel, std::size_t row,
                        std::size_t col) {
  return image * kImage + channel * kPlane + row * kSide + col;
}

// Writes a valid two-image file with labels 10 and 3 as doubles.
void write_two_images(const std::string& path, mat_ft version = MAT_FT_MAT5,
                      matio_compression compression = MAT_COMPRESSION_ZLIB) {
  const Bytes x = make_x(2, test_pixel);
  const double y[] = {10.0, 3.0};
  write_mat(path,
            {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
             {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 1}, y}},
            version, compression);
}

std::string read_svhn_error(const std::string& path) {
  return input_error_message([&] { pipar::read_svhn_mat(path); });
}

// ---- Valid files ----

TEST(Svhn, TestFilesAreMatlab5) {
  // A MATLAB 5 MAT-file, as the real files are, starts with a 116-byte text
  // header, and bytes 124-125 contain the version 0x0100. The tests' files
  // must be of that format.
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path);
  const Bytes bytes = read_bytes(path);

  ASSERT_GE(bytes.size(), 128u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 19), "MATLAB 5.0 MAT-file");
  const unsigned version = bytes[124] | (bytes[125] << 8);
  EXPECT_EQ(version, 0x0100u);
}

TEST(Svhn, ReadsShapeAndCount) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path);

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.count, 2);
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.rows, 32);
  EXPECT_EQ(set.cols, 32);
  EXPECT_EQ(set.pixels.size(), 2 * kImage);
}

TEST(Svhn, ChannelsAreRedGreenBlue) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path);

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.pixels[pixel_index(0, 0, 0, 0)], 1);
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 31, 31)], 1);
  EXPECT_EQ(set.pixels[pixel_index(0, 1, 5, 9)], 2);
  EXPECT_EQ(set.pixels[pixel_index(0, 2, 30, 3)], 3);
}

TEST(Svhn, PixelRowAndColumn) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path);

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.pixels[pixel_index(0, 0, 1, 2)], 200);
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 2, 1)], 1);  // the transposed position
  for (std::size_t channel = 0; channel < 3; ++channel) {
    for (std::size_t row = 0; row < kSide; ++row) {
      for (std::size_t col = 0; col < kSide; ++col) {
        ASSERT_EQ(set.pixels[pixel_index(1, channel, row, col)], test_pixel(1, channel, row, col))
            << "channel " << channel << ", row " << row << ", column " << col;
      }
    }
  }
}

TEST(Svhn, LabelTenIsDigitZero) {
  TempDir dir;
  const std::string path = dir.file("test_32x32.mat");
  write_two_images(path);

  EXPECT_EQ(pipar::read_svhn_mat(path).labels, (Bytes{0, 3}));
}

TEST(Svhn, EveryLabelMapsToItsDigit) {
  TempDir dir;
  const std::string path = dir.file("test_32x32.mat");
  const Bytes x = make_x(10, [](auto, auto, auto, auto) { return std::uint8_t{0}; });
  const double y[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 10}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {10, 1}, y}});

  EXPECT_EQ(pipar::read_svhn_mat(path).labels, (Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 0}));
}

TEST(Svhn, Uint8RowLabelsAccepted) {
  TempDir dir;
  const std::string path = dir.file("test_32x32.mat");
  const Bytes x = make_x(2, test_pixel);
  const std::uint8_t y[] = {7, 10};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
                   {"y", MAT_C_UINT8, MAT_T_UINT8, {1, 2}, y}});

  EXPECT_EQ(pipar::read_svhn_mat(path).labels, (Bytes{7, 0}));
}

TEST(Svhn, SingleImageWithoutFourthDimension) {
  TempDir dir;
  const std::string path = dir.file("test_32x32.mat");
  const Bytes x = make_x(1, test_pixel);
  const double y[] = {4.0};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, y}});

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.count, 1);
  EXPECT_EQ(set.labels, (Bytes{4}));
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 1, 2)], 200);
}

TEST(Svhn, UncompressedFileReads) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path, MAT_FT_MAT5, MAT_COMPRESSION_NONE);

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.labels, (Bytes{0, 3}));
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 1, 2)], 200);
}

TEST(Svhn, Matlab73FileReads) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path, MAT_FT_MAT73);

  const pipar::ImageSet set = pipar::read_svhn_mat(path);

  EXPECT_EQ(set.labels, (Bytes{0, 3}));
  EXPECT_EQ(set.pixels[pixel_index(0, 0, 1, 2)], 200);
  EXPECT_EQ(set.pixels[pixel_index(1, 2, 7, 3)], test_pixel(1, 2, 7, 3));
}

// ---- Rejected files ----

TEST(Svhn, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "No such file or directory"));
}

TEST(Svhn, TextFileIsNotMatFile) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const std::string text(300, 'x');
  write_bytes(path, Bytes(text.begin(), text.end()));
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "not a MATLAB"));
  EXPECT_TRUE(Contains(message, "http://ufldl.stanford.edu/housenumbers/"));
}

TEST(Svhn, Matlab4FileRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const double y[] = {1.0, 2.0};
  write_mat(path, {{"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 1}, y}}, MAT_FT_MAT4,
            MAT_COMPRESSION_NONE);
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "a MATLAB 4 MAT-file"));
}

TEST(Svhn, MissingXListsVariables) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes images = make_x(1, test_pixel);
  const double y[] = {1.0};
  write_mat(path, {{"images", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 1}, images.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "variable X not found"));
  EXPECT_TRUE(Contains(message, "found: images, y"));
}

TEST(Svhn, MissingY) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x = make_x(1, test_pixel);
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 1}, x.data()}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, "variable y not found"));
  EXPECT_TRUE(Contains(message, "found: X"));
}

TEST(Svhn, DoubleImagesRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const std::vector<double> x(kImage, 0.5);
  const double y[] = {1.0};
  write_mat(path, {{"X", MAT_C_DOUBLE, MAT_T_DOUBLE, {32, 32, 3, 1}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "variable X is double 32x32x3x1, expected uint8"));
}

TEST(Svhn, ChannelsFirstImagesRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x(2 * kImage);
  const double y[] = {1.0, 2.0};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {3, 32, 32, 2}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "variable X has dimensions 3x32x32x2, expected 32x32x3xN"));
}

TEST(Svhn, ImagesOfOtherSizeRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x(28 * 28 * 3);
  const double y[] = {1.0};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {28, 28, 3, 1}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {1, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, "variable X has dimensions 28x28x3x1, expected 32x32x3xN"));
}

TEST(Svhn, LabelCountMismatch) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x = make_x(2, test_pixel);
  const double y[] = {1.0, 2.0, 3.0};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {3, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "variable y has 3 labels but X has 2 images"));
}

TEST(Svhn, LabelMatrixRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x = make_x(4, test_pixel);
  const double y[] = {1.0, 2.0, 3.0, 4.0};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 4}, x.data()},
                   {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 2}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, "variable y has dimensions 2x2, expected 4x1"));
}

TEST(Svhn, TextLabelsRejected) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  const Bytes x = make_x(2, test_pixel);
  const char y[] = {'1', '2'};
  write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
                   {"y", MAT_C_CHAR, MAT_T_UINT8, {2, 1}, y}});
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, "variable y is char 2x1, expected real numeric labels"));
}

TEST(Svhn, LabelsOutsideOneToTen) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0.0, "y(2) is 0,"}, {11.0, "y(2) is 11,"}, {2.5, "y(2) is 2.5,"}, {-1.0, "y(2) is -1,"}};
  for (const auto& [label, expected] : cases) {
    TempDir dir;
    const std::string path = dir.file("train_32x32.mat");
    const Bytes x = make_x(2, test_pixel);
    const double y[] = {1.0, label};
    write_mat(path, {{"X", MAT_C_UINT8, MAT_T_UINT8, {32, 32, 3, 2}, x.data()},
                     {"y", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 1}, y}});
    const std::string message = read_svhn_error(path);

    EXPECT_TRUE(Contains(message, path)) << "label " << label;
    EXPECT_TRUE(Contains(message, expected)) << "label " << label;
    EXPECT_TRUE(Contains(message, "integers from 1 to 10")) << "label " << label;
  }
}

TEST(Svhn, TruncatedCompressedFile) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path);
  Bytes bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(path, bytes);
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "truncated or corrupt"));
  EXPECT_TRUE(Contains(message, "libmatio: "));
}

TEST(Svhn, TruncatedUncompressedFile) {
  TempDir dir;
  const std::string path = dir.file("train_32x32.mat");
  write_two_images(path, MAT_FT_MAT5, MAT_COMPRESSION_NONE);
  Bytes bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(path, bytes);
  const std::string message = read_svhn_error(path);

  EXPECT_TRUE(Contains(message, path));
  EXPECT_TRUE(Contains(message, "truncated or corrupt"));
}

}  // namespace
