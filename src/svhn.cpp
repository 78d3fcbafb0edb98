// SVHN .mat reading through libmatio.
//
// libmatio reports some problems only through its log function: a variable
// whose compressed data is cut off comes back with a warning and partial
// data. Every libmatio call here therefore runs with the messages of this
// thread collected, and fails on any error or warning among them.
#include "pipar/svhn.hpp"

#include <matio.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "pipar/error.hpp"

namespace pipar {
namespace {

constexpr std::size_t kSide = 32;
constexpr std::size_t kChannels = 3;
constexpr std::size_t kImageBytes = kChannels * kSide * kSide;
constexpr double kMaxLabel = 10.0;  // SVHN's label of digit 0

// libmatio 1.5.23 logs critical errors at level 2, warnings at level 4 and
// plain messages at level 8.
constexpr int kMatioWarningLevel = 4;

const char* const kDownloadAdvice =
    " Download train_32x32.mat and test_32x32.mat (format 2: cropped digits) from "
    "http://ufldl.stanford.edu/housenumbers/ again.";
const char* const kExpectedVariables =
    "X (uint8, 32x32x3xN: rows x columns x RGB channels x images) and y (N x 1 labels 1 to 10)";

std::vector<std::string>& matio_messages() {
  thread_local std::vector<std::string> messages;
  return messages;
}

void collect_matio_message(int level, char* message) {
  if (level <= kMatioWarningLevel && message != nullptr) matio_messages().emplace_back(message);
}

// Replaces libmatio's default log, which prints to stderr, by
// collect_matio_message, once per process.
void install_matio_log() {
  static const bool installed = [] {
    Mat_LogInitFunc("pipar", collect_matio_message);
    return true;
  }();
  (void)installed;
}

// Returns " (libmatio: ...)" with the collected messages, or "" without any.
std::string matio_detail() {
  const std::vector<std::string>& messages = matio_messages();
  if (messages.empty()) return "";
  std::string text = " (libmatio: ";
  for (std::size_t i = 0; i < messages.size(); ++i) text += (i > 0 ? "; " : "") + messages[i];
  return text + ")";
}

struct MatCloser {
  void operator()(mat_t* mat) const { Mat_Close(mat); }
};
struct VariableFreer {
  void operator()(matvar_t* variable) const { Mat_VarFree(variable); }
};
using MatHandle = std::unique_ptr<mat_t, MatCloser>;
using VariableHandle = std::unique_ptr<matvar_t, VariableFreer>;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw InputError(path + ": " + problem);
}

const char* class_name(matio_classes type) {
  switch (type) {
    case MAT_C_EMPTY: return "empty";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_FUNCTION: return "function";
    case MAT_C_OPAQUE: return "opaque";
  }
  return "unknown";
}

// Formats MATLAB dimensions as "32x32x3x73257".
std::string format_dims(const matvar_t& variable) {
  std::string text;
  for (int i = 0; i < variable.rank; ++i) {
    text += (i > 0 ? "x" : "") + std::to_string(variable.dims[i]);
  }
  return text;
}

// Describes a variable as MATLAB's whos would: "double 2x5".
std::string describe(const matvar_t& variable) {
  return std::string(variable.isComplex ? "complex " : "") + class_name(variable.class_type) +
         " " + format_dims(variable);
}

// Returns the names of the file's variables, for an error message.
std::string variable_names(mat_t* mat) {
  Mat_Rewind(mat);
  std::string names;
  while (matvar_t* info = Mat_VarReadNextInfo(mat)) {
    const VariableHandle owner(info);
    if (!names.empty()) names += ", ";
    names += info->name != nullptr ? info->name : "(unnamed)";
  }
  return names.empty() ? "none" : names;
}

MatHandle open_mat_file(const std::string& path) {
  // fopen first, for the system's reason when the file cannot be read.
  errno = 0;
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) {
    fail(path, std::string("failed to open the SVHN file: ") + std::strerror(errno) +
                   ". Check the path and its permissions.");
  }
  std::fclose(probe);

  matio_messages().clear();
  MatHandle mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!mat) {
    fail(path, "not a MATLAB MAT-file that libmatio can read" + matio_detail() +
                   ". The SVHN files are MATLAB 5 MAT-files." + kDownloadAdvice);
  }
  // libmatio opens MATLAB 4 files too, but the SVHN files are never v4.
  if (Mat_GetVersion(mat.get()) == MAT_FT_MAT4) {
    fail(path, "a MATLAB 4 MAT-file, but the SVHN files are MATLAB 5 MAT-files." +
                   std::string(kDownloadAdvice));
  }
  return mat;
}

// Reads the name, class and dimensions of `name`, without its data.
VariableHandle read_variable_info(mat_t* mat, const std::string& path, const char* name) {
  matio_messages().clear();
  VariableHandle info(Mat_VarReadInfo(mat, name));
  if (info && matio_messages().empty()) return info;
  if (!matio_messages().empty()) {
    fail(path, std::string("failed to read variable ") + name + ": the file is truncated or " +
                   "corrupt" + matio_detail() + "." + kDownloadAdvice);
  }
  fail(path, std::string("variable ") + name + " not found; expected " + kExpectedVariables +
                 ", found: " + variable_names(mat) + "." + kDownloadAdvice);
}

// Reads `name` with its data, which the info read has already checked.
VariableHandle read_variable(mat_t* mat, const std::string& path, const char* name) {
  matio_messages().clear();
  VariableHandle variable(Mat_VarRead(mat, name));
  if (!variable || variable->data == nullptr || !matio_messages().empty()) {
    fail(path, std::string("failed to read the data of variable ") + name +
                   ": the file is truncated or corrupt" + matio_detail() + "." + kDownloadAdvice);
  }
  return variable;
}

// Checks that X is a real uint8 array of 32x32x3xN and returns N. MATLAB
// drops trailing singleton dimensions, so one image is 32x32x3.
std::size_t check_images_info(const matvar_t& x, const std::string& path) {
  if (x.class_type != MAT_C_UINT8 || x.isComplex) {
    fail(path, "variable X is " + describe(x) + ", expected uint8 images: " + kExpectedVariables +
                   "." + kDownloadAdvice);
  }
  const bool shaped = (x.rank == 3 || (x.rank == 4 && x.dims[3] > 0)) && x.dims[0] == kSide &&
                      x.dims[1] == kSide && x.dims[2] == kChannels;
  if (!shaped) {
    fail(path, "variable X has dimensions " + format_dims(x) +
                   ", expected 32x32x3xN (rows x columns x RGB channels x images, in MATLAB's "
                   "order)." + kDownloadAdvice);
  }
  return x.rank == 4 ? x.dims[3] : 1;
}

bool is_real_numeric(const matvar_t& variable) {
  switch (variable.class_type) {
    case MAT_C_DOUBLE:
    case MAT_C_SINGLE:
    case MAT_C_INT8:
    case MAT_C_UINT8:
    case MAT_C_INT16:
    case MAT_C_UINT16:
    case MAT_C_INT32:
    case MAT_C_UINT32:
    case MAT_C_INT64:
    case MAT_C_UINT64:
      return !variable.isComplex;
    default:
      return false;
  }
}

// Checks that y is a real numeric vector of `count` elements.
void check_labels_info(const matvar_t& y, const std::string& path, std::size_t count) {
  if (!is_real_numeric(y)) {
    fail(path, "variable y is " + describe(y) + ", expected real numeric labels: " +
                   kExpectedVariables + "." + kDownloadAdvice);
  }
  const bool vector = y.rank == 2 && (y.dims[0] == 1 || y.dims[1] == 1);
  if (!vector) {
    fail(path, "variable y has dimensions " + format_dims(y) + ", expected " +
                   std::to_string(count) + "x1, one label per image of X." + kDownloadAdvice);
  }
  const std::size_t labels = y.dims[0] * y.dims[1];
  if (labels != count) {
    fail(path, "variable y has " + std::to_string(labels) + " labels but X has " +
                   std::to_string(count) + " images; both must have one entry per image." +
                   kDownloadAdvice);
  }
}

// Returns element `index` of a real numeric variable as a double.
double numeric_element(const matvar_t& variable, std::size_t index) {
  const void* data = variable.data;
  switch (variable.class_type) {
    case MAT_C_DOUBLE: return static_cast<const double*>(data)[index];
    case MAT_C_SINGLE: return static_cast<const float*>(data)[index];
    case MAT_C_INT8: return static_cast<const std::int8_t*>(data)[index];
    case MAT_C_UINT8: return static_cast<const std::uint8_t*>(data)[index];
    case MAT_C_INT16: return static_cast<const std::int16_t*>(data)[index];
    case MAT_C_UINT16: return static_cast<const std::uint16_t*>(data)[index];
    case MAT_C_INT32: return static_cast<const std::int32_t*>(data)[index];
    case MAT_C_UINT32: return static_cast<const std::uint32_t*>(data)[index];
    case MAT_C_INT64: return static_cast<double>(static_cast<const std::int64_t*>(data)[index]);
    case MAT_C_UINT64: return static_cast<double>(static_cast<const std::uint64_t*>(data)[index]);
    default: return std::nan("");
  }
}

// Converts labels 1..10 to digits 0..9, where label 10 is digit 0.
std::vector<std::uint8_t> convert_labels(const matvar_t& y, const std::string& path) {
  const std::size_t count = y.dims[0] * y.dims[1];
  std::vector<std::uint8_t> digits(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double label = numeric_element(y, i);
    const bool valid = label >= 1.0 && label <= kMaxLabel && std::floor(label) == label;
    if (!valid) {
      char text[32];
      std::snprintf(text, sizeof text, "%g", label);
      fail(path, "y(" + std::to_string(i + 1) + ") is " + text +
                     ", but SVHN labels are integers from 1 to 10 (10 for digit 0)." +
                     kDownloadAdvice);
    }
    digits[i] = static_cast<std::uint8_t>(static_cast<int>(label) % 10);
  }
  return digits;
}

// Reorders X from MATLAB's column-major (row, column, channel, image) to
// row-major (image, channel, row, column). Element (r, c, k, n) of X sits at
// r + 32 * (c + 32 * (k + 3 * n)), so each channel plane is transposed.
std::vector<std::uint8_t> convert_images(const matvar_t& x, std::size_t count) {
  const auto* source = static_cast<const std::uint8_t*>(x.data);
  std::vector<std::uint8_t> pixels(count * kImageBytes);
  for (std::size_t plane = 0; plane < count * kChannels; ++plane) {
    const std::uint8_t* in = source + plane * kSide * kSide;
    std::uint8_t* out = pixels.data() + plane * kSide * kSide;
    for (std::size_t column = 0; column < kSide; ++column) {
      for (std::size_t row = 0; row < kSide; ++row) {
        out[row * kSide + column] = in[column * kSide + row];
      }
    }
  }
  return pixels;
}

}  // namespace

ImageSet read_svhn_mat(const std::string& path) {
  install_matio_log();
  const MatHandle mat = open_mat_file(path);

  const VariableHandle x_info = read_variable_info(mat.get(), path, "X");
  const std::size_t count = check_images_info(*x_info, path);
  const VariableHandle y_info = read_variable_info(mat.get(), path, "y");
  check_labels_info(*y_info, path, count);

  ImageSet images;
  images.count = static_cast<std::int64_t>(count);
  images.channels = static_cast<std::int64_t>(kChannels);
  images.rows = static_cast<std::int64_t>(kSide);
  images.cols = static_cast<std::int64_t>(kSide);
  images.labels = convert_labels(*read_variable(mat.get(), path, "y"), path);
  images.pixels = convert_images(*read_variable(mat.get(), path, "X"), count);
  return images;
}

}  // namespace pipar
