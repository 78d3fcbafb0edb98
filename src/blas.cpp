#include "pipar/blas.hpp"

#include <dlfcn.h>

namespace pipar {
namespace {

// Looks a function up among the libraries already loaded into the process.
// Returns nullptr when none of them defines it.
template <typename Function>
Function* loaded_function(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

bool set_blas_threads(int threads) {
  auto* set = loaded_function<void(int)>("openblas_set_num_threads");
  if (set == nullptr) return false;
  set(threads);
  return true;
}

int blas_threads() {
  auto* get = loaded_function<int()>("openblas_get_num_threads");
  return get == nullptr ? 0 : get();
}

std::string blas_description() {
  auto* config = loaded_function<char*()>("openblas_get_config");
  if (config == nullptr) return "not OpenBLAS (no openblas_get_config in the process)";
  std::string text = config();
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace pipar
