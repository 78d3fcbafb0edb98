// Thread control of the BLAS library behind LibTorch's matrix products.
//
// Debian's LibTorch calls the system libblas.so.3, which the alternatives
// system points to OpenBLAS (libopenblas0-pthread) or to reference BLAS.
// OpenBLAS runs its own pthread pool, apart from LibTorch's OpenMP threads,
// with one thread per core unless OPENBLAS_NUM_THREADS sets another count.
// Its idle workers spin before they sleep, so they take CPU from ranks that
// share the cores, and their CPU time counts in the emulated device time of
// the rank that owns them. Measured here on a 2-core node: a VGG-5 client's
// APS profile came out twice as long with the default pool as with one
// OpenBLAS thread. pipar therefore gives OpenBLAS the same thread count per
// rank as LibTorch.
//
// The calls are looked up at run time, so a process linked to another BLAS
// runs unchanged and reports that the count cannot be set.
#pragma once

#include <string>

namespace pipar {

// Sets the BLAS library's thread count for this process. Returns false when
// the loaded BLAS offers no such call (it is not OpenBLAS).
bool set_blas_threads(int threads);

// Returns the BLAS library's thread count, or 0 when it cannot be read.
int blas_threads();

// Returns the BLAS library's own description, for example "OpenBLAS 0.3.21
// NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64", or a note that
// the library is not OpenBLAS.
std::string blas_description();

}  // namespace pipar
