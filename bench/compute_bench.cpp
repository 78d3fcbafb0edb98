// Time per training batch of VGG-5 in a plain single-process LibTorch loop:
// the reference for the engine's compute per batch.
//
// Usage: pipar_compute_bench [batches] [threads] [batch_size]
// Prints the median and mean milliseconds per batch (forward, loss, backward
// and SGD step) after 5 untimed warm-up batches.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pipar/blas.hpp"
#include "pipar/model.hpp"

int main(int argc, char** argv) {
  const int batches = argc > 1 ? std::max(5, std::atoi(argv[1])) : 50;
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  const int batch_size = argc > 3 ? std::max(1, std::atoi(argv[3])) : 100;
  torch::set_num_threads(threads);
  pipar::set_blas_threads(threads);  // as pipar train does on each rank

  torch::manual_seed(1);
  auto model = pipar::build_model("vgg5", {1, 28, 28}, 10);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto images = torch::randn({batch_size, 1, 28, 28});
  const auto labels = torch::randint(0, 10, {batch_size}, torch::kInt64);

  std::vector<double> times_ms;
  for (int i = 0; i < batches + 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    const auto end = std::chrono::steady_clock::now();
    if (i >= 5) times_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  double mean = 0.0;
  for (double t : times_ms) mean += t / static_cast<double>(times_ms.size());
  std::sort(times_ms.begin(), times_ms.end());
  std::printf("plain LibTorch loop: VGG-5, batch %d, %d threads, %d batches: median %.2f ms, mean %.2f ms per batch\n",
              batch_size, threads, batches, times_ms[times_ms.size() / 2], mean);
  return 0;
}
