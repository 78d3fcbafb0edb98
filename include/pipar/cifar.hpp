// Reader for the binary version of CIFAR-10 and CIFAR-100
// (https://www.cs.toronto.edu/~kriz/cifar.html).
//
// A file is a sequence of fixed-size records with nothing between them.
// A CIFAR-10 record is 1 label byte (0..9) and 3072 pixel bytes. A CIFAR-100
// record is a coarse label byte (0..19), a fine label byte (0..99) and 3072
// pixel bytes. The pixels are the 1024 red values, then the 1024 green and
// the 1024 blue ones, each plane a 32x32 image in row-major order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipar/image_set.hpp"

namespace pipar {

enum class CifarVariant {
  kCifar10,   // 10 classes
  kCifar100,  // 100 classes: the fine label is the class
};

// Bytes of one record: 3073 for CIFAR-10, 3074 for CIFAR-100.
std::int64_t cifar_record_bytes(CifarVariant variant);

// Reads the files in `paths`, in order, into one set of 3x32x32 images
// labelled 0..9 (CIFAR-10) or 0..99 (CIFAR-100's fine labels). When
// `records_per_file` is positive, each file must contain exactly that many
// records, as the files of the official release do. Throws InputError,
// naming the path, when a file cannot be read or is empty. It also throws
// when a file's size is not a whole number of records, its record count
// differs from a positive `records_per_file`, or a label is out of range
// (for CIFAR-100, the coarse label too).
ImageSet read_cifar(CifarVariant variant, const std::vector<std::string>& paths,
                    std::int64_t records_per_file = 0);

}  // namespace pipar
