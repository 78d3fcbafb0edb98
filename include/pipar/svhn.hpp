// Reader for the cropped-digit files of SVHN, the Street View House Numbers
// data set (train_32x32.mat and test_32x32.mat from
// http://ufldl.stanford.edu/housenumbers/), through libmatio.
//
// Each file is a MATLAB MAT-file with two variables. X is a uint8 array of
// 32 x 32 x 3 x N: row, column, RGB channel and image, in MATLAB's
// column-major order, so the row index varies fastest. y contains the N
// labels, N x 1, where digits 1 to 9 have labels 1 to 9 and digit 0 has
// label 10.
#pragma once

#include <string>

#include "pipar/image_set.hpp"

namespace pipar {

// Reads an SVHN .mat file into 3x32x32 images in (channel, row, column)
// order, labelled with their digit 0..9 (label 10 becomes 0). y may be of
// any real numeric MATLAB class (the files use double) and N x 1 or 1 x N.
// Throws InputError, naming the path, when the file cannot be opened or is
// not a MATLAB 5 (v7) or v7.3 MAT-file. It also throws when X or y is
// missing, X is not uint8 or not 32x32x3xN, y does not have N elements or a
// label is not an integer from 1 to 10. Any error or warning that libmatio
// logs while reading, as for a truncated file, throws too.
ImageSet read_svhn_mat(const std::string& path);

}  // namespace pipar
