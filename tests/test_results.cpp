// Tests of pipar::ResultsFile. Each test writes into its own temporary
// directory and checks the file by reopening it with the HDF5 C API, so that a
// bug shared by the writer and a reader in the class cannot hide itself.
#include "pipar/results.hpp"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pipar/error.hpp"

namespace {

using pipar::ResultsFile;

// A fresh directory under the system's temporary directory, removed with
// everything in it at the end of the test.
class TempDirectory {
 public:
  TempDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pipar_results_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// An HDF5 identifier of the test's own reader, closed by the H5*close
// function passed with it.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) {
      close_(id_);
    }
  }
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id& operator=(Id&&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

Id open_read_only(const std::string& path) {
  return Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
}

bool link_exists(hid_t file, const std::string& path) {
  return H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0;
}

// Reads a scalar attribute into a T, converted to `memory_type`.
template <typename T>
T read_attribute(hid_t file, const std::string& object, const std::string& name, hid_t memory_type) {
  const Id attribute(H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
  if (!attribute.valid()) {
    throw std::runtime_error("attribute " + name + " not found on " + object);
  }
  T value{};
  if (H5Aread(attribute.get(), memory_type, &value) < 0) {
    throw std::runtime_error("H5Aread failed for attribute " + name);
  }
  return value;
}

Id make_string_type() {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

std::string read_string_attribute(hid_t file, const std::string& object, const std::string& name) {
  const Id type = make_string_type();
  char* text = read_attribute<char*>(file, object, name, type.get());
  std::string value = text == nullptr ? "" : text;
  H5free_memory(text);
  return value;
}

// Returns the class of the type stored for an attribute, e.g. H5T_STRING.
H5T_class_t attribute_type_class(hid_t file, const std::string& object, const std::string& name) {
  const Id attribute(H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
  const Id type(H5Aget_type(attribute.get()), H5Tclose);
  return H5Tget_class(type.get());
}

std::size_t attribute_type_size(hid_t file, const std::string& object, const std::string& name) {
  const Id attribute(H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
  const Id type(H5Aget_type(attribute.get()), H5Tclose);
  return H5Tget_size(type.get());
}

// Returns the current and the maximum dimensions of a dataset.
std::pair<std::vector<hsize_t>, std::vector<hsize_t>> dataset_shape(hid_t file,
                                                                    const std::string& dataset) {
  const Id opened(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  const Id space(H5Dget_space(opened.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) {
    throw std::runtime_error("cannot read the shape of " + dataset);
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  std::vector<hsize_t> max_dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
  return {dims, max_dims};
}

std::vector<hsize_t> dataset_dims(hid_t file, const std::string& dataset) {
  return dataset_shape(file, dataset).first;
}

// Reads every element of a numeric dataset in row-major order.
template <typename T>
std::vector<T> read_values(hid_t file, const std::string& dataset, hid_t memory_type) {
  std::size_t count = 1;
  for (const hsize_t dim : dataset_dims(file, dataset)) {
    count *= static_cast<std::size_t>(dim);
  }
  std::vector<T> values(count);
  const Id opened(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (count > 0 && H5Dread(opened.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    throw std::runtime_error("H5Dread failed for " + dataset);
  }
  return values;
}

std::vector<double> read_doubles(hid_t file, const std::string& dataset) {
  return read_values<double>(file, dataset, H5T_NATIVE_DOUBLE);
}

std::vector<std::int64_t> read_int64s(hid_t file, const std::string& dataset) {
  return read_values<std::int64_t>(file, dataset, H5T_NATIVE_INT64);
}

std::vector<std::string> read_strings(hid_t file, const std::string& dataset) {
  const Id type = make_string_type();
  std::vector<char*> pointers = read_values<char*>(file, dataset, type.get());
  std::vector<std::string> values;
  for (char* pointer : pointers) {
    values.emplace_back(pointer == nullptr ? "" : pointer);
    H5free_memory(pointer);
  }
  return values;
}

H5T_class_t dataset_type_class(hid_t file, const std::string& dataset) {
  const Id opened(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  const Id type(H5Dget_type(opened.get()), H5Tclose);
  return H5Tget_class(type.get());
}

H5D_layout_t dataset_layout(hid_t file, const std::string& dataset) {
  const Id opened(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  const Id properties(H5Dget_create_plist(opened.get()), H5Pclose);
  return H5Pget_layout(properties.get());
}

H5I_type_t object_type(hid_t file, const std::string& object) {
  const Id opened(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
  return opened.valid() ? H5Iget_type(opened.get()) : H5I_BADID;
}

// Returns the message of the exception of type E that `action` throws, or
// fails the test when it throws nothing.
template <typename E, typename Action>
std::string thrown_message(Action action) {
  try {
    action();
  } catch (const E& error) {
    return error.what();
  }
  ADD_FAILURE() << "no exception was thrown";
  return "";
}

const std::vector<std::vector<double>> kDoubleRows = {
    {0.1, -2.5, 1e-300, 3.0},
    {std::numeric_limits<double>::max(), 0.0, -0.0, 7.25},
    {1.0 / 3.0, 2.0 / 3.0, 123456.789, -1e10},
};

const std::vector<std::vector<std::int64_t>> kInt64Rows = {
    {std::numeric_limits<std::int64_t>::min(), 0, 1},
    {std::numeric_limits<std::int64_t>::max(), -1, 42},
    {1'000'000'000'000, -7, 9},
};

// Flattens rows in row-major order, the order read_values returns.
template <typename T>
std::vector<T> flatten(const std::vector<std::vector<T>>& rows) {
  std::vector<T> values;
  for (const auto& row : rows) {
    values.insert(values.end(), row.begin(), row.end());
  }
  return values;
}

// Runs in a forked child: creates `path`, appends three rows and flushes,
// appends a fourth row without a flush and kills itself with SIGKILL, so no
// destructor and no HDF5 close runs. Never returns.
[[noreturn]] void write_rows_then_kill(const std::string& path) {
  try {
    ResultsFile results(path);
    results.set_attribute("/", "status", std::string("running"));
    for (const auto& row : kDoubleRows) {
      results.append_row("/train/loss", row);
    }
    results.flush();
    results.append_row("/train/loss", std::vector<double>{4.0, 4.0, 4.0, 4.0});
    raise(SIGKILL);
  } catch (...) {
    _exit(1);
  }
  _exit(2);  // raise returned, which SIGKILL does not allow
}

// Forks a child that runs write_rows_then_kill and returns its wait status.
int run_killed_writer(const std::string& path) {
  const pid_t child = fork();
  if (child == 0) {
    write_rows_then_kill(path);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) {
    throw std::runtime_error("fork or waitpid failed");
  }
  return status;
}

// ----- Attributes

TEST(ResultsFile, AttributesRoundTripEachType) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.set_attribute("/", "scheme", std::string("fedavg"));
    results.set_attribute("/", "host", std::string("Zürich-node ✓"));
    results.set_attribute("/", "seed", std::int64_t{-9'000'000'000});
    results.set_attribute("/", "learning_rate", 0.1);
    results.set_attribute("/", "tiny", 1e-300);
    results.append_row("/train/loss", std::vector<double>{1.0});
    results.set_attribute("/train/loss", "unit", std::string("nats"));
    results.set_attribute("/train/loss", "rounds", std::int64_t{3});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(read_string_attribute(file.get(), "/", "scheme"), "fedavg");
  EXPECT_EQ(read_string_attribute(file.get(), "/", "host"), "Zürich-node ✓");
  EXPECT_EQ(read_attribute<std::int64_t>(file.get(), "/", "seed", H5T_NATIVE_INT64), -9'000'000'000);
  EXPECT_EQ(read_attribute<double>(file.get(), "/", "learning_rate", H5T_NATIVE_DOUBLE), 0.1);
  EXPECT_EQ(read_attribute<double>(file.get(), "/", "tiny", H5T_NATIVE_DOUBLE), 1e-300);
  EXPECT_EQ(read_string_attribute(file.get(), "/train/loss", "unit"), "nats");
  EXPECT_EQ(read_attribute<std::int64_t>(file.get(), "/train/loss", "rounds", H5T_NATIVE_INT64), 3);
}

TEST(ResultsFile, AttributesStoreStandardTypes) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.set_attribute("/", "text", std::string("a"));
    results.set_attribute("/", "count", std::int64_t{1});
    results.set_attribute("/", "ratio", 0.5);
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(attribute_type_class(file.get(), "/", "text"), H5T_STRING);
  EXPECT_EQ(attribute_type_class(file.get(), "/", "count"), H5T_INTEGER);
  EXPECT_EQ(attribute_type_size(file.get(), "/", "count"), 8u);
  EXPECT_EQ(attribute_type_class(file.get(), "/", "ratio"), H5T_FLOAT);
  EXPECT_EQ(attribute_type_size(file.get(), "/", "ratio"), 8u);
}

TEST(ResultsFile, AttributeOverwriteReplacesValueAndType) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.set_attribute("/", "status", std::int64_t{0});
    results.set_attribute("/", "status", std::string("complete"));
    results.set_attribute("/", "loss", 2.0);
    results.set_attribute("/", "loss", 1.5);
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(attribute_type_class(file.get(), "/", "status"), H5T_STRING);
  EXPECT_EQ(read_string_attribute(file.get(), "/", "status"), "complete");
  EXPECT_EQ(read_attribute<double>(file.get(), "/", "loss", H5T_NATIVE_DOUBLE), 1.5);
}

TEST(ResultsFile, IntegerAttributesStoredAsInt64) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.set_attribute("/", "world_size", 4);
    results.set_attribute("/", "samples", std::size_t{60000});
    EXPECT_THROW(results.set_attribute("/", "too_large", std::numeric_limits<std::uint64_t>::max()),
                 std::out_of_range);
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(attribute_type_class(file.get(), "/", "world_size"), H5T_INTEGER);
  EXPECT_EQ(attribute_type_size(file.get(), "/", "world_size"), 8u);
  EXPECT_EQ(read_attribute<std::int64_t>(file.get(), "/", "world_size", H5T_NATIVE_INT64), 4);
  EXPECT_EQ(read_attribute<std::int64_t>(file.get(), "/", "samples", H5T_NATIVE_INT64), 60000);
  EXPECT_FALSE(H5Aexists(file.get(), "too_large") > 0);
}

TEST(ResultsFile, AttributeStringWithNulThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  EXPECT_THROW(results.set_attribute("/", "name", std::string("a\0b", 3)), std::invalid_argument);
}

// ----- Tables

TEST(ResultsFile, AppendRowDoubleThreeRows) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    for (const auto& row : kDoubleRows) {
      results.append_row("/train/metrics", row);
    }
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  const auto [dims, max_dims] = dataset_shape(file.get(), "/train/metrics");
  EXPECT_EQ(dims, (std::vector<hsize_t>{3, 4}));
  EXPECT_EQ(max_dims, (std::vector<hsize_t>{H5S_UNLIMITED, 4}));
  EXPECT_EQ(dataset_layout(file.get(), "/train/metrics"), H5D_CHUNKED);
  EXPECT_EQ(dataset_type_class(file.get(), "/train/metrics"), H5T_FLOAT);
  EXPECT_EQ(read_doubles(file.get(), "/train/metrics"), flatten(kDoubleRows));
}

TEST(ResultsFile, AppendRowInt64ThreeRows) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    for (const auto& row : kInt64Rows) {
      results.append_row("/train/bytes", row);
    }
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/train/bytes"), (std::vector<hsize_t>{3, 3}));
  EXPECT_EQ(dataset_type_class(file.get(), "/train/bytes"), H5T_INTEGER);
  EXPECT_EQ(read_int64s(file.get(), "/train/bytes"), flatten(kInt64Rows));
}

TEST(ResultsFile, AppendRowOneColumnStays2D) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.append_row("loss", std::vector<double>{0.5});
    results.append_row("loss", std::vector<double>{0.25});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/loss"), (std::vector<hsize_t>{2, 1}));
  EXPECT_EQ(read_doubles(file.get(), "/loss"), (std::vector<double>{0.5, 0.25}));
}

TEST(ResultsFile, AppendRowBeyondOneChunk) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  std::vector<std::int64_t> expected;
  {
    ResultsFile results(path);
    for (std::int64_t round = 0; round < 200; ++round) {
      results.append_row("/rounds", std::vector<std::int64_t>{round, round * round});
      expected.push_back(round);
      expected.push_back(round * round);
    }
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/rounds"), (std::vector<hsize_t>{200, 2}));
  EXPECT_EQ(read_int64s(file.get(), "/rounds"), expected);
}

TEST(ResultsFile, AppendRowWidthMismatchThrows) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.append_row("/train/loss", std::vector<double>{1.0, 2.0, 3.0});

    const std::string message = thrown_message<std::invalid_argument>(
        [&] { results.append_row("/train/loss", std::vector<double>{1.0, 2.0}); });
    EXPECT_NE(message.find("/train/loss"), std::string::npos) << message;
    EXPECT_NE(message.find("width 2"), std::string::npos) << message;
    EXPECT_NE(message.find("width 3"), std::string::npos) << message;
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/train/loss"), (std::vector<hsize_t>{1, 3}));
}

TEST(ResultsFile, AppendRowTypeMismatchThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.append_row("/counts", std::vector<std::int64_t>{1, 2});

  const std::string message = thrown_message<std::invalid_argument>(
      [&] { results.append_row("/counts", std::vector<double>{1.0, 2.0}); });
  EXPECT_NE(message.find("/counts"), std::string::npos) << message;
  EXPECT_NE(message.find("int64"), std::string::npos) << message;
}

TEST(ResultsFile, AppendRowEmptyRowThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  EXPECT_THROW(results.append_row("/loss", std::vector<double>{}), std::invalid_argument);
  EXPECT_FALSE(results.exists("/loss"));
}

TEST(ResultsFile, AppendRowToVectorThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.write_vector("/fixed", std::vector<double>{1.0, 2.0});
  EXPECT_THROW(results.append_row("/fixed", std::vector<double>{1.0}), std::invalid_argument);
}

// ----- Whole datasets

TEST(ResultsFile, WriteStringsRoundTrip) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  const std::vector<std::string> hosts = {"node-01", "", "nœud-02 ✓", std::string(300, 'x')};
  {
    ResultsFile results(path);
    results.write_strings("/ranks/hosts", {"old", "values", "to", "replace", "here"});
    results.write_strings("/ranks/hosts", hosts);
    results.write_strings("/ranks/empty", {});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_type_class(file.get(), "/ranks/hosts"), H5T_STRING);
  EXPECT_EQ(dataset_dims(file.get(), "/ranks/hosts"), (std::vector<hsize_t>{4}));
  EXPECT_EQ(read_strings(file.get(), "/ranks/hosts"), hosts);
  EXPECT_EQ(dataset_dims(file.get(), "/ranks/empty"), (std::vector<hsize_t>{0}));
}

TEST(ResultsFile, WriteVectorRoundTrip) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  const std::vector<double> times = {0.125, 1e-9, -3.5};
  const std::vector<std::int64_t> counts = {std::numeric_limits<std::int64_t>::min(), 0, 7};
  {
    ResultsFile results(path);
    results.write_vector("/timing/seconds", std::vector<double>{9.0});
    results.write_vector("/timing/seconds", times);
    results.write_vector("/timing/counts", counts);
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/timing/seconds"), (std::vector<hsize_t>{3}));
  EXPECT_EQ(read_doubles(file.get(), "/timing/seconds"), times);
  EXPECT_EQ(dataset_type_class(file.get(), "/timing/counts"), H5T_INTEGER);
  EXPECT_EQ(read_int64s(file.get(), "/timing/counts"), counts);
}

TEST(ResultsFile, WriteVectorOverGroupThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.set_attribute("/sweep/point_0", "done", std::int64_t{1});
  EXPECT_THROW(results.write_vector("/sweep", std::vector<double>{1.0}), std::invalid_argument);
  EXPECT_TRUE(results.exists("/sweep/point_0"));
}

// ----- Groups

TEST(ResultsFile, NestedGroupsAreCreated) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.append_row("/sweep/ranks_4/batch_32/loss", std::vector<double>{1.0});
    results.set_attribute("meta/build", "commit", std::string("abc"));
    results.write_strings("/a/b/c/hosts", {"h"});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(object_type(file.get(), "/sweep"), H5I_GROUP);
  EXPECT_EQ(object_type(file.get(), "/sweep/ranks_4"), H5I_GROUP);
  EXPECT_EQ(object_type(file.get(), "/sweep/ranks_4/batch_32"), H5I_GROUP);
  EXPECT_EQ(object_type(file.get(), "/sweep/ranks_4/batch_32/loss"), H5I_DATASET);
  EXPECT_EQ(object_type(file.get(), "/meta/build"), H5I_GROUP);
  EXPECT_EQ(read_string_attribute(file.get(), "/meta/build", "commit"), "abc");
  EXPECT_EQ(object_type(file.get(), "/a/b/c"), H5I_GROUP);
}

TEST(ResultsFile, GroupBelowDatasetThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.append_row("/loss", std::vector<double>{1.0});

  const std::string message = thrown_message<std::invalid_argument>(
      [&] { results.set_attribute("/loss/epoch/x", "a", 1.0); });
  EXPECT_NE(message.find("/loss is not a group"), std::string::npos) << message;
  EXPECT_THROW(results.append_row("/loss/inner", std::vector<double>{1.0}), std::invalid_argument);
}

TEST(ResultsFile, ExistsListGroupsRemove) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.append_row("/sweep/point_b/loss", std::vector<double>{1.0});
  results.set_attribute("/sweep/point_a", "done", std::int64_t{1});
  results.set_attribute("/sweep/point_c", "done", std::int64_t{0});
  results.write_vector("/sweep/summary", std::vector<double>{1.0});

  EXPECT_TRUE(results.exists("/"));
  EXPECT_TRUE(results.exists("/sweep"));
  EXPECT_TRUE(results.exists("sweep/point_b/"));
  EXPECT_TRUE(results.exists("/sweep/point_b/loss"));
  EXPECT_FALSE(results.exists("/sweep/point_d"));
  EXPECT_FALSE(results.exists("/missing/child"));
  EXPECT_FALSE(results.exists("/sweep/point_b/loss/below_dataset"));

  EXPECT_EQ(results.list_groups("/sweep"),
            (std::vector<std::string>{"point_a", "point_b", "point_c"}));
  EXPECT_EQ(results.list_groups("/"), (std::vector<std::string>{"sweep"}));
  EXPECT_TRUE(results.list_groups("/sweep/point_a").empty());
  EXPECT_THROW(results.list_groups("/missing"), std::invalid_argument);
  EXPECT_THROW(results.list_groups("/sweep/summary"), std::invalid_argument);

  results.remove("/sweep/point_b");
  EXPECT_FALSE(results.exists("/sweep/point_b"));
  EXPECT_FALSE(results.exists("/sweep/point_b/loss"));
  results.remove("/sweep/summary");
  EXPECT_FALSE(results.exists("/sweep/summary"));
  EXPECT_EQ(results.list_groups("/sweep"), (std::vector<std::string>{"point_a", "point_c"}));
  EXPECT_THROW(results.remove("/sweep/point_b"), std::invalid_argument);
  EXPECT_THROW(results.remove("/"), std::invalid_argument);
}

TEST(ResultsFile, RemovedGroupGoneAfterReopen) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.append_row("/sweep/partial/loss", std::vector<double>{1.0});
    results.set_attribute("/sweep/complete", "done", std::int64_t{1});
    results.remove("/sweep/partial");
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_FALSE(link_exists(file.get(), "/sweep/partial"));
  EXPECT_TRUE(link_exists(file.get(), "/sweep/complete"));
}

TEST(ResultsFile, EmptyObjectPathThrows) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  EXPECT_THROW(results.exists(""), std::invalid_argument);
  EXPECT_THROW(results.append_row("", std::vector<double>{1.0}), std::invalid_argument);
  EXPECT_THROW(results.set_attribute("/", "", 1.0), std::invalid_argument);
}

// ----- Modes

TEST(ResultsFile, AppendModeKeepsAndAddsContent) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.set_attribute("/", "scheme", std::string("fedavg"));
    results.append_row("/train/loss", kDoubleRows[0]);
    results.append_row("/train/loss", kDoubleRows[1]);
  }
  {
    ResultsFile results(path, ResultsFile::Mode::kAppend);
    results.append_row("/train/loss", kDoubleRows[2]);
    results.set_attribute("/sweep/point_0", "done", std::int64_t{1});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(read_string_attribute(file.get(), "/", "scheme"), "fedavg");
  EXPECT_EQ(dataset_dims(file.get(), "/train/loss"), (std::vector<hsize_t>{3, 4}));
  EXPECT_EQ(read_doubles(file.get(), "/train/loss"), flatten(kDoubleRows));
  EXPECT_EQ(read_attribute<std::int64_t>(file.get(), "/sweep/point_0", "done", H5T_NATIVE_INT64), 1);
}

TEST(ResultsFile, AppendModeCreatesMissingFile) {
  const TempDirectory directory;
  const std::string path = directory.file("new.h5");
  {
    ResultsFile results(path, ResultsFile::Mode::kAppend);
    results.append_row("/loss", std::vector<double>{1.0});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(dataset_dims(file.get(), "/loss"), (std::vector<hsize_t>{1, 1}));
}

TEST(ResultsFile, CreateModeTruncatesFile) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile results(path);
    results.append_row("/old", std::vector<double>{1.0});
  }
  {
    ResultsFile results(path, ResultsFile::Mode::kCreate);
    results.append_row("/new", std::vector<double>{2.0});
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_FALSE(link_exists(file.get(), "/old"));
  EXPECT_TRUE(link_exists(file.get(), "/new"));
}

TEST(ResultsFile, MovedFileKeepsWriting) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  {
    ResultsFile first(path);
    first.append_row("/loss", std::vector<double>{1.0});
    ResultsFile second(std::move(first));
    second.append_row("/loss", std::vector<double>{2.0});

    EXPECT_EQ(second.path(), path);
    EXPECT_TRUE(first.path().empty());  // NOLINT(bugprone-use-after-move)
    EXPECT_THROW(first.append_row("/loss", std::vector<double>{3.0}), std::logic_error);  // NOLINT(bugprone-use-after-move)

    ResultsFile third(directory.file("other.h5"));
    third = std::move(second);
    third.append_row("/loss", std::vector<double>{4.0});
    EXPECT_EQ(third.path(), path);
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(read_doubles(file.get(), "/loss"), (std::vector<double>{1.0, 2.0, 4.0}));
}

// ----- Unwritable paths and HDF5 failures

TEST(ResultsFile, MissingDirectoryThrowsInputError) {
  const TempDirectory directory;
  const std::string path = directory.file("no/such/dir/results.h5");

  const std::string message = thrown_message<pipar::InputError>([&] { ResultsFile results(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_NE(message.find("--output"), std::string::npos) << message;
}

TEST(ResultsFile, DirectoryPathThrowsInputError) {
  const TempDirectory directory;
  for (const ResultsFile::Mode mode : {ResultsFile::Mode::kCreate, ResultsFile::Mode::kAppend}) {
    const std::string message =
        thrown_message<pipar::InputError>([&] { ResultsFile results(directory.path(), mode); });
    EXPECT_NE(message.find(directory.path()), std::string::npos) << message;
    EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
    EXPECT_NE(message.find("--output"), std::string::npos) << message;
  }
}

TEST(ResultsFile, ReadOnlyDirectoryThrowsInputError) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root may write into a read-only directory";
  }
  const TempDirectory directory;
  const std::string locked = directory.file("locked");
  ASSERT_EQ(mkdir(locked.c_str(), 0500), 0);
  const std::string path = locked + "/results.h5";

  const std::string message = thrown_message<pipar::InputError>([&] { ResultsFile results(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("no write permission"), std::string::npos) << message;
  chmod(locked.c_str(), 0700);
}

TEST(ResultsFile, AppendToNonHdf5FileThrows) {
  const TempDirectory directory;
  const std::string path = directory.file("notes.txt");
  std::ofstream(path) << "not an HDF5 file\n";

  const std::string message = thrown_message<pipar::InputError>(
      [&] { ResultsFile results(path, ResultsFile::Mode::kAppend); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("not an HDF5 file"), std::string::npos) << message;
}

TEST(ResultsFile, Hdf5FailureNamesCallAndCause) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  ResultsFile open(path);

  // HDF5 rejects truncating a file that this process has open.
  const std::string message = thrown_message<std::runtime_error>([&] { ResultsFile again(path); });
  EXPECT_NE(message.find("H5Fcreate"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("already open"), std::string::npos) << message;
}

TEST(ResultsFile, ExpectedFailuresPrintNothing) {
  const TempDirectory directory;
  ResultsFile results(directory.file("results.h5"));
  results.append_row("/loss", std::vector<double>{1.0});

  testing::internal::CaptureStderr();
  const bool missing_found = results.exists("/missing/deeper");
  EXPECT_THROW(results.append_row("/loss", std::vector<double>{1.0, 2.0}), std::invalid_argument);
  const std::string printed = testing::internal::GetCapturedStderr();

  EXPECT_FALSE(missing_found);
  EXPECT_EQ(printed, "");
}

// ----- Crash safety

TEST(ResultsFile, FlushedRowsSurviveSigkill) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");

  const int status = run_killed_writer(path);
  ASSERT_TRUE(WIFSIGNALED(status)) << "wait status " << status;
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  const std::vector<hsize_t> dims = dataset_dims(file.get(), "/train/loss");
  ASSERT_EQ(dims.size(), 2u);
  EXPECT_GE(dims[0], 3u);
  EXPECT_EQ(dims[1], 4u);
  // With HDF5 1.10.8 the file shows exactly the 3 flushed rows. The fourth
  // row's data reaches the file when append_row closes the dataset, but the
  // larger extent stays in the metadata cache and is lost with the process.
  const std::vector<double> values = read_doubles(file.get(), "/train/loss");
  const std::vector<double> flushed = flatten(kDoubleRows);
  ASSERT_GE(values.size(), flushed.size());
  EXPECT_EQ(std::vector<double>(values.begin(), values.begin() + 12), flushed);
  EXPECT_EQ(read_string_attribute(file.get(), "/", "status"), "running");
}

TEST(ResultsFile, KilledFileReopensForAppend) {
  const TempDirectory directory;
  const std::string path = directory.file("results.h5");
  const int status = run_killed_writer(path);
  ASSERT_TRUE(WIFSIGNALED(status)) << "wait status " << status;
  {
    ResultsFile results(path, ResultsFile::Mode::kAppend);
    ASSERT_TRUE(results.exists("/train/loss"));
    results.append_row("/train/loss", std::vector<double>{5.0, 5.0, 5.0, 5.0});
    results.set_attribute("/", "status", std::string("resumed"));
  }

  const Id file = open_read_only(path);
  ASSERT_TRUE(file.valid());
  const std::vector<double> values = read_doubles(file.get(), "/train/loss");
  const std::vector<double> flushed = flatten(kDoubleRows);
  const std::vector<double> resumed_row = {5.0, 5.0, 5.0, 5.0};
  ASSERT_GE(values.size(), flushed.size() + resumed_row.size());
  EXPECT_EQ(std::vector<double>(values.begin(), values.begin() + 12), flushed);
  EXPECT_EQ(std::vector<double>(values.end() - 4, values.end()), resumed_row);
  EXPECT_EQ(read_string_attribute(file.get(), "/", "status"), "resumed");
}

}  // namespace
