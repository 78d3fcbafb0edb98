// HDF5 results file written by MPI rank 0: run attributes, per-round tables
// and one group per completed sweep point. The HDF5 C API stays inside
// src/results.cpp, so this header does not include hdf5.h.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace pipar {

// An open HDF5 file that results are appended to.
//
// Object paths are HDF5 paths such as "/train/loss". A path without a leading
// "/" counts from the root group, and repeated or trailing slashes are ignored.
// Every method throws std::invalid_argument for an empty object path and for
// a call that does not fit the object found at a path, such as a row of
// another width. When the HDF5 library itself fails, the method throws
// std::runtime_error naming the HDF5 call, the object and HDF5's innermost
// error message.
//
// Crash safety: flush() writes everything buffered to the operating system.
// A process that is killed afterwards leaves a file that HDF5 1.10 opens and
// that contains everything written before the flush. Changes made after the
// last flush may be lost or partly visible, and a file killed before its
// first flush does not open at all. flush() does not call fsync, so a power
// loss or an operating system crash can still lose flushed data.
// NOTE: without SWMR, HDF5 1.10 does not promise this. Metadata that its cache
// evicts after a flush reaches the file in no fixed order, so flush right
// after each row or group that must survive a crash.
//
// Not thread-safe: use one ResultsFile from one thread at a time.
class ResultsFile {
 public:
  // kCreate truncates an existing file. kAppend opens an existing file for
  // reading and writing, or creates it when it is absent. kRead opens an
  // existing file read-only, and every write method then fails.
  enum class Mode { kCreate, kAppend, kRead };

  // Opens or creates the file. Throws pipar::InputError when the path cannot
  // be written (missing directory, no permission, the path is a directory, or
  // with kAppend an existing file that is not an HDF5 file), and with kRead
  // when the file is missing or is not an HDF5 file.
  explicit ResultsFile(const std::string& path, Mode mode = Mode::kCreate);

  // Closes every HDF5 handle and never throws. A failure to write the last
  // changes is therefore ignored, so call flush() first to see such errors.
  ~ResultsFile();

  // A moved-from ResultsFile has an empty path() and every other method
  // throws std::logic_error.
  ResultsFile(ResultsFile&& other) noexcept;
  ResultsFile& operator=(ResultsFile&& other) noexcept;
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  const std::string& path() const;

  // Writes a scalar attribute on a group or an existing dataset. "/" is the
  // root group, and a missing path is created as a group together with its
  // missing parents. An existing attribute of that name is deleted first, so
  // its type may change. Strings are stored as variable-length UTF-8 and must
  // not contain '\0'.
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void set_attribute(const std::string& object, const std::string& name, double value);

  // Stores any other integer type as int64, because a call with an int would
  // otherwise be ambiguous between the int64 and the double overloads.
  // Throws std::out_of_range for an unsigned value above INT64_MAX.
  template <typename Integer,
            typename = std::enable_if_t<std::is_integral_v<Integer> &&
                                        !std::is_same_v<Integer, bool> &&
                                        !std::is_same_v<Integer, char> &&
                                        !std::is_same_v<Integer, std::int64_t>>>
  void set_attribute(const std::string& object, const std::string& name, Integer value) {
    if constexpr (std::is_unsigned_v<Integer> && sizeof(Integer) >= sizeof(std::int64_t)) {
      if (value > static_cast<Integer>(std::numeric_limits<std::int64_t>::max())) {
        throw std::out_of_range("attribute " + name + " on " + object + ": value " +
                                std::to_string(value) + " does not fit in int64");
      }
    }
    set_attribute(object, name, static_cast<std::int64_t>(value));
  }

  // Writes a 1-D dataset of variable-length UTF-8 strings, such as the host
  // name of each rank. An existing dataset at that path is replaced.
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);

  // Appends one row to a 2-D table of shape (rows, columns). The first call
  // creates the table, chunked and extendible along the rows, with
  // columns = row.size() and any missing parent groups. A table with one
  // column is still 2-D. Throws std::invalid_argument for an empty row, a row
  // of another width than the table, a table of the other element type, and
  // a dataset at that path that is not an extendible 2-D table.
  void append_row(const std::string& dataset, const std::vector<double>& row);
  void append_row(const std::string& dataset, const std::vector<std::int64_t>& row);
  // Appends values.size() / columns rows at once (row-major), creating the
  // table on first use; nothing happens for no values.
  void append_rows(const std::string& dataset, const std::vector<double>& values,
                   std::size_t columns);

  // Writes a whole 1-D dataset. An existing dataset at that path is replaced.
  // NOTE: HDF5 does not reuse the space of a replaced dataset, so the file
  // grows by its size on each replacement (h5repack reclaims it).
  void write_vector(const std::string& dataset, const std::vector<double>& values);
  void write_vector(const std::string& dataset, const std::vector<std::int64_t>& values);

  // Returns whether a group or a dataset exists at that path.
  bool exists(const std::string& object) const;

  // Returns the names of the child groups of a group, sorted. Datasets are
  // left out. Throws std::invalid_argument when the group does not exist.
  std::vector<std::string> list_groups(const std::string& group) const;

  // Returns the names of the attributes of a group or dataset, sorted.
  std::vector<std::string> attribute_names(const std::string& object) const;

  // Read a scalar attribute. A string attribute must be a variable-length
  // string; a number attribute may be any integer or float type and is
  // converted. Throw std::invalid_argument when the attribute is missing or
  // of the other kind.
  std::string read_string_attribute(const std::string& object, const std::string& name) const;
  double read_number_attribute(const std::string& object, const std::string& name) const;

  // Reads every element of a numeric dataset of any rank, row-major and
  // converted to double; `shape`, when given, receives its dimensions.
  std::vector<double> read_doubles(const std::string& dataset,
                                   std::vector<std::size_t>* shape = nullptr) const;

  // Unlinks a group with everything in it, or a dataset, for example a sweep
  // point that a killed run left half written. Throws std::invalid_argument
  // when nothing exists at that path or the path is the root group.
  void remove(const std::string& object);

  // Writes every buffer of the file to the operating system (H5Fflush with
  // global scope). See the class comment for what survives a crash.
  void flush();

  // The HDF5 handles, defined in results.cpp only.
  struct Impl;

 private:
  Impl& impl() const;

  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pipar
