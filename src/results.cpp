// ResultsFile: the HDF5 results file of rank 0, written with the HDF5 C API
// (serial HDF5 1.10 as shipped by Debian 12). The file keeps HDF5's default
// format bounds, so that h5dump and h5py of that release read it, and a file
// left by a killed writer opens without h5clear.
#include "pipar/results.hpp"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "pipar/error.hpp"

namespace pipar {
namespace {

// An owned HDF5 identifier together with the H5*close function of its kind.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);

  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Handle() { reset(); }

  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

  // Closes the identifier and returns the status of the H5*close call, or 0
  // when there was nothing to close.
  herr_t close() noexcept {
    herr_t status = 0;
    if (id_ >= 0 && close_ != nullptr) {
      status = close_(id_);
    }
    id_ = H5I_INVALID_HID;
    return status;
  }

  // Closes the identifier and ignores a failure, for destructors and error
  // paths that have no caller left to report it to.
  void reset() noexcept { close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Turns off HDF5's automatic printing of the error stack for the lifetime of
// the guard and restores the previous handler afterwards. Failures that this
// file expects (a missing link, a file that is not HDF5) then stay quiet, and
// unexpected ones are reported through the exception message instead.
class SilentErrorStack {
 public:
  SilentErrorStack() {
    H5Eget_auto2(H5E_DEFAULT, &previous_function_, &previous_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~SilentErrorStack() { H5Eset_auto2(H5E_DEFAULT, previous_function_, previous_data_); }
  SilentErrorStack(const SilentErrorStack&) = delete;
  SilentErrorStack& operator=(const SilentErrorStack&) = delete;

 private:
  H5E_auto2_t previous_function_ = nullptr;
  void* previous_data_ = nullptr;
};

// H5Ewalk2 callback that stores the description of the innermost error.
// H5E_WALK_UPWARD visits the innermost error first, as entry 0.
herr_t store_innermost_error(unsigned entry, const H5E_error2_t* error, void* message) noexcept {
  if (entry != 0) {
    return 0;
  }
  try {
    auto* text = static_cast<std::string*>(message);
    if (error->desc != nullptr && error->desc[0] != '\0') {
      *text = error->desc;
    } else if (error->func_name != nullptr) {
      *text = std::string("error in ") + error->func_name;
    }
  } catch (...) {
    return -1;  // out of memory: the message stays as it was
  }
  return 0;
}

// Throws std::runtime_error for a failed HDF5 call. It must run right after
// the call, because the next HDF5 API call clears the error stack.
[[noreturn]] void throw_hdf5_failure(const char* call, const std::string& where) {
  std::string innermost = "no HDF5 error message";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, store_innermost_error, &innermost);
  H5Eclear2(H5E_DEFAULT);
  throw std::runtime_error(std::string(call) + " failed for " + where + ": " + innermost);
}

Handle checked(hid_t id, Handle::Closer close, const char* call, const std::string& where) {
  if (id < 0) {
    throw_hdf5_failure(call, where);
  }
  return Handle(id, close);
}

void check(herr_t status, const char* call, const std::string& where) {
  if (status < 0) {
    throw_hdf5_failure(call, where);
  }
}

// Returns the components of an object path. Empty components, from a leading,
// repeated or trailing slash, are dropped, so "/" yields no components.
std::vector<std::string> split_path(const std::string& object) {
  if (object.empty()) {
    throw std::invalid_argument("object path is empty; use \"/\" for the root group");
  }
  std::vector<std::string> components;
  std::size_t begin = 0;
  while (begin <= object.size()) {
    std::size_t end = object.find('/', begin);
    if (end == std::string::npos) {
      end = object.size();
    }
    if (end > begin) {
      components.push_back(object.substr(begin, end - begin));
    }
    begin = end + 1;
  }
  return components;
}

// Returns the absolute path made of the first `count` components.
std::string join_path(const std::vector<std::string>& components, std::size_t count) {
  std::string path;
  for (std::size_t i = 0; i < count; ++i) {
    path += "/" + components[i];
  }
  return path.empty() ? "/" : path;
}

std::string canonical_path(const std::string& object) {
  const std::vector<std::string> components = split_path(object);
  return join_path(components, components.size());
}

// ----- Checks of the output path, so that the user gets the reason and the fix.

[[noreturn]] void throw_unwritable(const std::string& path, const std::string& reason) {
  throw InputError("cannot write results file " + path + ": " + reason +
                   "; choose a writable --output path");
}

void check_directory_writable(const std::string& path) {
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) {
    directory = ".";
  }
  struct stat status {};
  if (stat(directory.c_str(), &status) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      throw_unwritable(path, "directory " + directory + " does not exist");
    }
    throw_unwritable(path, "cannot access directory " + directory + " (" + std::strerror(error) + ")");
  }
  if (!S_ISDIR(status.st_mode)) {
    throw_unwritable(path, directory + " is not a directory");
  }
  if (access(directory.c_str(), W_OK | X_OK) != 0) {
    throw_unwritable(path, "no write permission in directory " + directory);
  }
}

// Throws InputError unless `path` names a writable regular file or a file
// that can be created. Returns whether the file exists.
bool check_output_path(const std::string& path) {
  if (path.empty()) {
    throw InputError("results file path is empty; choose a writable --output path");
  }
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) {
    const int error = errno;
    if (error != ENOENT) {
      throw_unwritable(path, std::strerror(error));
    }
    check_directory_writable(path);
    return false;
  }
  if (S_ISDIR(status.st_mode)) {
    throw_unwritable(path, "the path is a directory");
  }
  if (!S_ISREG(status.st_mode)) {
    throw_unwritable(path, "the path is not a regular file");
  }
  if (access(path.c_str(), R_OK | W_OK) != 0) {
    throw_unwritable(path, "no read and write permission on the file");
  }
  return true;
}

// ----- Types and shapes.

Handle make_utf8_string_type(const std::string& where) {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", where);
  check(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size", where);
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset", where);
  return type;
}

// Element type of a dataset or attribute: the type in the file, the matching
// type in memory, and the name used in error messages.
struct ElementType {
  hid_t file_type;
  hid_t memory_type;
  H5T_class_t type_class;
  const char* name;
};

ElementType double_type() { return {H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, H5T_FLOAT, "double"}; }
ElementType int64_type() { return {H5T_STD_I64LE, H5T_NATIVE_INT64, H5T_INTEGER, "int64"}; }

// Rows per chunk of a table: 64, or fewer for wide rows so that a chunk stays
// at most 1 MiB unless a single row is larger.
hsize_t rows_per_chunk(std::size_t columns) {
  constexpr std::size_t kTargetChunkBytes = std::size_t{1} << 20;
  const std::size_t rows = kTargetChunkBytes / (columns * sizeof(double));
  return static_cast<hsize_t>(std::clamp<std::size_t>(rows, 1, 64));
}

std::string describe_type(hid_t type) {
  const H5T_class_t type_class = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (type_class == H5T_FLOAT) {
    return size == 8 ? "double" : "float" + std::to_string(8 * size);
  }
  if (type_class == H5T_INTEGER) {
    return "int" + std::to_string(8 * size);
  }
  return "non-numeric";
}

enum class ObjectKind { kMissing, kGroup, kDataset, kOther };

// Returns the name of the link at `index` in a group, in the order of names.
std::string link_name_at(hid_t group, hsize_t index, const std::string& where) {
  const ssize_t length =
      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nullptr, 0, H5P_DEFAULT);
  if (length < 0) {
    throw_hdf5_failure("H5Lget_name_by_idx", where);
  }
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, name.data(), name.size(),
                         H5P_DEFAULT) < 0) {
    throw_hdf5_failure("H5Lget_name_by_idx", where);
  }
  name.resize(static_cast<std::size_t>(length));
  return name;
}

}  // namespace

// ----- The open file and the operations on it.

struct ResultsFile::Impl {
  std::string path;
  Handle file;

  // Closes the file. A failure is ignored, see ~ResultsFile.
  ~Impl() {
    const SilentErrorStack silent;
    file.reset();
  }

  // Returns "/train/loss in file out.h5" for error messages.
  std::string where(const std::string& object) const { return object + " in file " + path; }

  ObjectKind kind_of(const std::string& object) const;
  void require_parent_groups(const std::string& object) const;
  Handle open_object(const std::string& object) const;
  Handle open_or_create_group(const std::string& object);
  Handle create_link_properties(const std::string& object) const;
  void prepare_replacement(const std::string& dataset);
  void write_attribute(const std::string& object, const std::string& name, hid_t file_type,
                       hid_t memory_type, const void* value);
  void write_1d(const std::string& dataset, hid_t file_type, hid_t memory_type, std::size_t count,
                const void* values);
  void create_table(const std::string& dataset, const ElementType& type, std::size_t columns);
  Handle open_table(const std::string& dataset, const ElementType& type, std::size_t columns);
  void append(const std::string& dataset, const ElementType& type, std::size_t columns,
              std::size_t rows, const void* data);
};

// Returns what is at an absolute path. Each prefix is tested with H5Lexists
// first, because H5Lexists fails instead of returning false when a parent of
// the link is missing.
ObjectKind ResultsFile::Impl::kind_of(const std::string& object) const {
  const std::vector<std::string> components = split_path(object);
  for (std::size_t count = 1; count <= components.size(); ++count) {
    if (H5Lexists(file.get(), join_path(components, count).c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return ObjectKind::kMissing;
    }
  }
  Handle opened(H5Oopen(file.get(), object.c_str(), H5P_DEFAULT), H5Oclose);
  if (!opened.valid()) {
    H5Eclear2(H5E_DEFAULT);  // a dangling soft or external link
    return ObjectKind::kMissing;
  }
  switch (H5Iget_type(opened.get())) {
    case H5I_GROUP:
      return ObjectKind::kGroup;
    case H5I_DATASET:
      return ObjectKind::kDataset;
    default:
      return ObjectKind::kOther;
  }
}

// Throws std::invalid_argument when a parent of `object` exists but is not a
// group, so that no group can be created below a dataset.
void ResultsFile::Impl::require_parent_groups(const std::string& object) const {
  const std::vector<std::string> components = split_path(object);
  for (std::size_t count = 1; count < components.size(); ++count) {
    const std::string parent = join_path(components, count);
    const ObjectKind kind = kind_of(parent);
    if (kind == ObjectKind::kMissing) {
      return;  // this parent and those below it will be created
    }
    if (kind != ObjectKind::kGroup) {
      throw std::invalid_argument("cannot create " + where(object) + " because " + parent +
                                  " is not a group");
    }
  }
}

Handle ResultsFile::Impl::open_object(const std::string& object) const {
  return checked(H5Oopen(file.get(), object.c_str(), H5P_DEFAULT), H5Oclose, "H5Oopen",
                 where(object));
}

// Creates link creation properties that also create missing parent groups.
Handle ResultsFile::Impl::create_link_properties(const std::string& object) const {
  Handle properties =
      checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "H5Pcreate(H5P_LINK_CREATE)", where(object));
  check(H5Pset_create_intermediate_group(properties.get(), 1), "H5Pset_create_intermediate_group",
        where(object));
  return properties;
}

// Opens the group or dataset at `object`, or creates a group there with its
// missing parents.
Handle ResultsFile::Impl::open_or_create_group(const std::string& object) {
  if (kind_of(object) != ObjectKind::kMissing) {
    return open_object(object);
  }
  require_parent_groups(object);
  const Handle link_properties = create_link_properties(object);
  return checked(H5Gcreate2(file.get(), object.c_str(), link_properties.get(), H5P_DEFAULT,
                            H5P_DEFAULT),
                 H5Gclose, "H5Gcreate2", where(object));
}

// Unlinks an existing dataset at `dataset` so that a new one can take its
// place. Throws std::invalid_argument when a group or another object is there.
void ResultsFile::Impl::prepare_replacement(const std::string& dataset) {
  const ObjectKind kind = kind_of(dataset);
  if (kind == ObjectKind::kMissing) {
    require_parent_groups(dataset);
    return;
  }
  if (kind != ObjectKind::kDataset) {
    throw std::invalid_argument("cannot write dataset " + where(dataset) +
                                " because a group or another object of that name exists; "
                                "remove it first");
  }
  check(H5Ldelete(file.get(), dataset.c_str(), H5P_DEFAULT), "H5Ldelete", where(dataset));
}

// Writes a scalar attribute, replacing one of the same name.
void ResultsFile::Impl::write_attribute(const std::string& object, const std::string& name,
                                        hid_t file_type, hid_t memory_type, const void* value) {
  if (name.empty()) {
    throw std::invalid_argument("attribute name is empty for " + where(object));
  }
  const std::string attribute = where(object) + " (attribute " + name + ")";
  const Handle target = open_or_create_group(object);

  const htri_t found = H5Aexists(target.get(), name.c_str());
  check(found, "H5Aexists", attribute);
  if (found > 0) {
    check(H5Adelete(target.get(), name.c_str()), "H5Adelete", attribute);
  }

  const Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate", attribute);
  const Handle created =
      checked(H5Acreate2(target.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "H5Acreate2", attribute);
  check(H5Awrite(created.get(), memory_type, value), "H5Awrite", attribute);
}

// Writes a contiguous 1-D dataset of `count` elements, replacing an old one.
void ResultsFile::Impl::write_1d(const std::string& dataset, hid_t file_type, hid_t memory_type,
                                 std::size_t count, const void* values) {
  prepare_replacement(dataset);

  const hsize_t dims[1] = {static_cast<hsize_t>(count)};
  const Handle space =
      checked(H5Screate_simple(1, dims, nullptr), H5Sclose, "H5Screate_simple", where(dataset));
  const Handle link_properties = create_link_properties(dataset);
  Handle created = checked(H5Dcreate2(file.get(), dataset.c_str(), file_type, space.get(),
                                      link_properties.get(), H5P_DEFAULT, H5P_DEFAULT),
                           H5Dclose, "H5Dcreate2", where(dataset));
  if (count > 0) {
    check(H5Dwrite(created.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), "H5Dwrite",
          where(dataset));
  }
  check(created.close(), "H5Dclose", where(dataset));
}

// Creates an empty table of shape (0, columns), chunked and unlimited along
// the rows.
void ResultsFile::Impl::create_table(const std::string& dataset, const ElementType& type,
                                     std::size_t columns) {
  require_parent_groups(dataset);

  const hsize_t dims[2] = {0, static_cast<hsize_t>(columns)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(columns)};
  const Handle space =
      checked(H5Screate_simple(2, dims, max_dims), H5Sclose, "H5Screate_simple", where(dataset));

  const hsize_t chunk[2] = {rows_per_chunk(columns), static_cast<hsize_t>(columns)};
  const Handle create_properties =
      checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "H5Pcreate(H5P_DATASET_CREATE)", where(dataset));
  check(H5Pset_chunk(create_properties.get(), 2, chunk), "H5Pset_chunk", where(dataset));

  const Handle link_properties = create_link_properties(dataset);
  checked(H5Dcreate2(file.get(), dataset.c_str(), type.file_type, space.get(), link_properties.get(),
                     create_properties.get(), H5P_DEFAULT),
          H5Dclose, "H5Dcreate2", where(dataset));
}

// Opens a table and throws std::invalid_argument unless it is an extendible
// 2-D dataset with `columns` columns of the element type's class.
Handle ResultsFile::Impl::open_table(const std::string& dataset, const ElementType& type,
                                     std::size_t columns) {
  Handle opened =
      checked(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose, "H5Dopen2", where(dataset));
  const Handle space = checked(H5Dget_space(opened.get()), H5Sclose, "H5Dget_space", where(dataset));

  hsize_t dims[2] = {0, 0};
  hsize_t max_dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space.get()) != 2) {
    throw std::invalid_argument("cannot append a row to " + where(dataset) +
                                " because it is not a 2-D table");
  }
  check(H5Sget_simple_extent_dims(space.get(), dims, max_dims), "H5Sget_simple_extent_dims",
        where(dataset));
  if (max_dims[0] != H5S_UNLIMITED) {
    throw std::invalid_argument("cannot append a row to " + where(dataset) +
                                " because its number of rows is fixed");
  }
  if (dims[1] != columns) {
    throw std::invalid_argument("cannot append a row of width " + std::to_string(columns) + " to " +
                                where(dataset) + ", which has width " + std::to_string(dims[1]));
  }

  const Handle stored_type = checked(H5Dget_type(opened.get()), H5Tclose, "H5Dget_type", where(dataset));
  if (H5Tget_class(stored_type.get()) != type.type_class) {
    throw std::invalid_argument("cannot append a row of " + std::string(type.name) + " to " +
                                where(dataset) + ", which contains " +
                                describe_type(stored_type.get()) + " values");
  }
  return opened;
}

// Extends the table by `rows` rows and writes `data` (rows x columns,
// row-major) into them.
void ResultsFile::Impl::append(const std::string& dataset, const ElementType& type,
                               std::size_t columns, std::size_t rows, const void* data) {
  if (columns == 0) {
    throw std::invalid_argument("cannot append an empty row to " + where(dataset));
  }
  if (kind_of(dataset) == ObjectKind::kMissing) {
    create_table(dataset, type, columns);
  }
  Handle table = open_table(dataset, type, columns);

  const Handle old_space = checked(H5Dget_space(table.get()), H5Sclose, "H5Dget_space", where(dataset));
  hsize_t dims[2] = {0, 0};
  check(H5Sget_simple_extent_dims(old_space.get(), dims, nullptr), "H5Sget_simple_extent_dims",
        where(dataset));
  const hsize_t row_index = dims[0];
  dims[0] += rows;
  check(H5Dset_extent(table.get(), dims), "H5Dset_extent", where(dataset));

  const Handle file_space = checked(H5Dget_space(table.get()), H5Sclose, "H5Dget_space", where(dataset));
  const hsize_t start[2] = {row_index, 0};
  const hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(columns)};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
        "H5Sselect_hyperslab", where(dataset));
  const Handle memory_space =
      checked(H5Screate_simple(2, count, nullptr), H5Sclose, "H5Screate_simple", where(dataset));
  check(H5Dwrite(table.get(), type.memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data),
        "H5Dwrite", where(dataset));
  // Closing the dataset writes its cached chunk, so report a failure here.
  check(table.close(), "H5Dclose", where(dataset));
}

// ----- Opening and closing.

namespace {

Handle open_file_read_only(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) {
    throw InputError("results file " + path + " not found; give the path of an HDF5 file that "
                     "pipar wrote");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError("cannot read results file " + path + ": it is not an HDF5 file");
  }
  return checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "H5Fopen",
                 "file " + path);
}

Handle open_file(const std::string& path, ResultsFile::Mode mode) {
  if (mode == ResultsFile::Mode::kRead) return open_file_read_only(path);
  const bool exists = check_output_path(path);
  const std::string where = "file " + path;

  if (mode == ResultsFile::Mode::kAppend && exists) {
    if (H5Fis_hdf5(path.c_str()) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError("cannot append to results file " + path +
                       ": it is not an HDF5 file; choose another --output path or delete the file");
    }
    return checked(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, "H5Fopen", where);
  }
  // In kAppend, H5F_ACC_EXCL makes creation fail instead of truncating a file
  // that appeared after check_output_path.
  const unsigned flags = mode == ResultsFile::Mode::kCreate ? H5F_ACC_TRUNC : H5F_ACC_EXCL;
  return checked(H5Fcreate(path.c_str(), flags, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, "H5Fcreate",
                 where);
}

}  // namespace

ResultsFile::ResultsFile(const std::string& path, Mode mode)
    : path_(path), impl_(std::make_unique<Impl>()) {
  const SilentErrorStack silent;
  impl_->path = path;
  impl_->file = open_file(path, mode);
}

ResultsFile::~ResultsFile() = default;

// The moves empty the path of `other` explicitly, because a moved-from
// std::string has an unspecified value.
ResultsFile::ResultsFile(ResultsFile&& other) noexcept
    : path_(std::exchange(other.path_, std::string())), impl_(std::move(other.impl_)) {}

ResultsFile& ResultsFile::operator=(ResultsFile&& other) noexcept {
  path_ = std::exchange(other.path_, std::string());
  impl_ = std::move(other.impl_);
  return *this;
}

const std::string& ResultsFile::path() const { return path_; }

ResultsFile::Impl& ResultsFile::impl() const {
  if (!impl_) {
    throw std::logic_error("ResultsFile was used after it was moved from");
  }
  return *impl_;
}

// ----- Public operations. Each one silences HDF5's error printing while it runs.

void ResultsFile::set_attribute(const std::string& object, const std::string& name,
                                const std::string& value) {
  const SilentErrorStack silent;
  const std::string target = canonical_path(object);
  if (value.find('\0') != std::string::npos) {
    throw std::invalid_argument("string attribute " + name + " on " + impl().where(target) +
                                " contains a '\\0' character, which a variable-length string cannot store");
  }
  const Handle type = make_utf8_string_type(impl().where(target));
  const char* text = value.c_str();
  impl().write_attribute(target, name, type.get(), type.get(), &text);
}

void ResultsFile::set_attribute(const std::string& object, const std::string& name,
                                std::int64_t value) {
  const SilentErrorStack silent;
  const ElementType type = int64_type();
  impl().write_attribute(canonical_path(object), name, type.file_type, type.memory_type, &value);
}

void ResultsFile::set_attribute(const std::string& object, const std::string& name, double value) {
  const SilentErrorStack silent;
  const ElementType type = double_type();
  impl().write_attribute(canonical_path(object), name, type.file_type, type.memory_type, &value);
}

void ResultsFile::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
  const SilentErrorStack silent;
  const std::string target = canonical_path(dataset);
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].find('\0') != std::string::npos) {
      throw std::invalid_argument("string " + std::to_string(i) + " for " + impl().where(target) +
                                  " contains a '\\0' character, which a variable-length string cannot store");
    }
    pointers.push_back(values[i].c_str());
  }
  const Handle type = make_utf8_string_type(impl().where(target));
  impl().write_1d(target, type.get(), type.get(), pointers.size(), pointers.data());
}

void ResultsFile::append_row(const std::string& dataset, const std::vector<double>& row) {
  const SilentErrorStack silent;
  impl().append(canonical_path(dataset), double_type(), row.size(), 1, row.data());
}

void ResultsFile::append_rows(const std::string& dataset, const std::vector<double>& values,
                              std::size_t columns) {
  if (columns == 0 || values.size() % columns != 0) {
    throw std::invalid_argument("cannot append " + std::to_string(values.size()) +
                                " values as rows of width " + std::to_string(columns) + " to " +
                                dataset);
  }
  if (values.empty()) return;
  const SilentErrorStack silent;
  impl().append(canonical_path(dataset), double_type(), columns, values.size() / columns,
                values.data());
}

void ResultsFile::append_row(const std::string& dataset, const std::vector<std::int64_t>& row) {
  const SilentErrorStack silent;
  impl().append(canonical_path(dataset), int64_type(), row.size(), 1, row.data());
}

void ResultsFile::write_vector(const std::string& dataset, const std::vector<double>& values) {
  const SilentErrorStack silent;
  const ElementType type = double_type();
  impl().write_1d(canonical_path(dataset), type.file_type, type.memory_type, values.size(),
                  values.data());
}

void ResultsFile::write_vector(const std::string& dataset, const std::vector<std::int64_t>& values) {
  const SilentErrorStack silent;
  const ElementType type = int64_type();
  impl().write_1d(canonical_path(dataset), type.file_type, type.memory_type, values.size(),
                  values.data());
}

bool ResultsFile::exists(const std::string& object) const {
  const SilentErrorStack silent;
  const ObjectKind kind = impl().kind_of(canonical_path(object));
  return kind == ObjectKind::kGroup || kind == ObjectKind::kDataset;
}

std::vector<std::string> ResultsFile::list_groups(const std::string& group) const {
  const SilentErrorStack silent;
  const std::string target = canonical_path(group);
  const Impl& file = impl();
  if (file.kind_of(target) != ObjectKind::kGroup) {
    throw std::invalid_argument("cannot list the groups in " + file.where(target) +
                                " because no group exists there");
  }
  const Handle opened = file.open_object(target);

  H5G_info_t info{};
  check(H5Gget_info(opened.get(), &info), "H5Gget_info", file.where(target));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const std::string name = link_name_at(opened.get(), i, file.where(target));
    const std::string child = target == "/" ? "/" + name : target + "/" + name;
    if (file.kind_of(child) == ObjectKind::kGroup) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ----- Reading.

namespace {

// H5Aiterate2 callback that collects attribute names.
herr_t store_attribute_name(hid_t, const char* name, const H5A_info_t*, void* names) noexcept {
  try {
    static_cast<std::vector<std::string>*>(names)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

}  // namespace

std::vector<std::string> ResultsFile::attribute_names(const std::string& object) const {
  const SilentErrorStack silent;
  const std::string target = canonical_path(object);
  const Impl& file = impl();
  const ObjectKind kind = file.kind_of(target);
  if (kind != ObjectKind::kGroup && kind != ObjectKind::kDataset) {
    throw std::invalid_argument("cannot list the attributes of " + file.where(target) +
                                " because it does not exist");
  }
  const Handle opened = file.open_object(target);
  std::vector<std::string> names;
  hsize_t index = 0;
  check(H5Aiterate2(opened.get(), H5_INDEX_NAME, H5_ITER_INC, &index, store_attribute_name, &names),
        "H5Aiterate2", file.where(target));
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

// Opens attribute `name` of `object`, or throws std::invalid_argument naming
// both when either is missing.
Handle open_attribute(const Handle& object, const std::string& name, const std::string& where) {
  const htri_t found = H5Aexists(object.get(), name.c_str());
  check(found, "H5Aexists", where);
  if (found == 0) {
    throw std::invalid_argument("attribute " + name + " not found on " + where);
  }
  return checked(H5Aopen(object.get(), name.c_str(), H5P_DEFAULT), H5Aclose, "H5Aopen",
                 where + " (attribute " + name + ")");
}

}  // namespace

// An open attribute with the object it belongs to, which stays open while
// the attribute is read.
struct OpenAttribute {
  Handle object;
  Handle attribute;
  Handle type;
  std::string where;
};

OpenAttribute open_attribute_of(const ResultsFile::Impl& file, const std::string& object,
                                const std::string& name) {
  OpenAttribute opened;
  const std::string target = canonical_path(object);
  opened.where = file.where(target);
  opened.object = file.open_object(target);
  opened.attribute = open_attribute(opened.object, name, opened.where);
  opened.type = checked(H5Aget_type(opened.attribute.get()), H5Tclose, "H5Aget_type", opened.where);
  return opened;
}

std::string ResultsFile::read_string_attribute(const std::string& object,
                                               const std::string& name) const {
  const SilentErrorStack silent;
  const OpenAttribute opened = open_attribute_of(impl(), object, name);
  if (H5Tget_class(opened.type.get()) != H5T_STRING || H5Tis_variable_str(opened.type.get()) <= 0) {
    throw std::invalid_argument("attribute " + name + " on " + opened.where +
                                " is not a variable-length string");
  }
  const Handle memory_type = make_utf8_string_type(opened.where);
  char* text = nullptr;
  check(H5Aread(opened.attribute.get(), memory_type.get(), &text), "H5Aread", opened.where);
  std::string value = text != nullptr ? text : "";
  H5free_memory(text);
  return value;
}

double ResultsFile::read_number_attribute(const std::string& object, const std::string& name) const {
  const SilentErrorStack silent;
  const OpenAttribute opened = open_attribute_of(impl(), object, name);
  const H5T_class_t type_class = H5Tget_class(opened.type.get());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
    throw std::invalid_argument("attribute " + name + " on " + opened.where + " is not a number");
  }
  double value = 0.0;
  check(H5Aread(opened.attribute.get(), H5T_NATIVE_DOUBLE, &value), "H5Aread", opened.where);
  return value;
}

std::vector<double> ResultsFile::read_doubles(const std::string& dataset,
                                              std::vector<std::size_t>* shape) const {
  const SilentErrorStack silent;
  const std::string target = canonical_path(dataset);
  const Impl& file = impl();
  if (file.kind_of(target) != ObjectKind::kDataset) {
    throw std::invalid_argument("cannot read " + file.where(target) + " because no dataset exists there");
  }
  const Handle opened = checked(H5Dopen2(file.file.get(), target.c_str(), H5P_DEFAULT), H5Dclose,
                                "H5Dopen2", file.where(target));
  const Handle type = checked(H5Dget_type(opened.get()), H5Tclose, "H5Dget_type", file.where(target));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
    throw std::invalid_argument("dataset " + file.where(target) + " is not numeric");
  }
  const Handle space =
      checked(H5Dget_space(opened.get()), H5Sclose, "H5Dget_space", file.where(target));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  check(rank, "H5Sget_simple_extent_ndims", file.where(target));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "H5Sget_simple_extent_dims",
        file.where(target));
  std::size_t count = 1;
  for (hsize_t dim : dims) count *= static_cast<std::size_t>(dim);
  std::vector<double> values(count);
  if (count > 0) {
    check(H5Dread(opened.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
          "H5Dread", file.where(target));
  }
  if (shape != nullptr) shape->assign(dims.begin(), dims.end());
  return values;
}

void ResultsFile::remove(const std::string& object) {
  const SilentErrorStack silent;
  const std::string target = canonical_path(object);
  if (target == "/") {
    throw std::invalid_argument("cannot remove the root group of " + impl().path);
  }
  const ObjectKind kind = impl().kind_of(target);
  if (kind != ObjectKind::kGroup && kind != ObjectKind::kDataset) {
    throw std::invalid_argument("cannot remove " + impl().where(target) + " because it does not exist");
  }
  check(H5Ldelete(impl().file.get(), target.c_str(), H5P_DEFAULT), "H5Ldelete", impl().where(target));
}

void ResultsFile::flush() {
  const SilentErrorStack silent;
  check(H5Fflush(impl().file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", "file " + impl().path);
}

}  // namespace pipar
