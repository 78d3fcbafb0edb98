// The BLAS behind LibTorch must be OpenBLAS, because reference BLAS is much
// slower on matrix products, and pipar must control its thread count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "pipar/blas.hpp"

namespace {

TEST(Blas, LibTorchUsesOpenBlas) {
  // A product that LibTorch hands to BLAS's gemm, so the library is in use.
  const torch::Tensor a = torch::ones({64, 64});
  const torch::Tensor product = torch::mm(a, a);
  EXPECT_FLOAT_EQ(product[0][0].item<float>(), 64.0F);
  const std::string description = pipar::blas_description();
  EXPECT_EQ(description.rfind("OpenBLAS", 0), 0U)
      << "LibTorch's BLAS is '" << description
      << "'; install libopenblas0-pthread (scripts/install-deps.sh) so libblas.so.3 is OpenBLAS";
}

TEST(Blas, SetThreadCountReadsBack) {
  const int before = pipar::blas_threads();
  ASSERT_TRUE(pipar::set_blas_threads(2));
  EXPECT_EQ(pipar::blas_threads(), 2);
  ASSERT_TRUE(pipar::set_blas_threads(1));
  EXPECT_EQ(pipar::blas_threads(), 1);
  pipar::set_blas_threads(before);
}

}  // namespace
