// libtorch-overhead: PyTorch 1.13's dispatch cost from C++ (libtorch), the fair counterpart of
// ark-bench's overhead group (torch_bench.py measures the same from Python, loop cost included).
// Built by run.sh through libtorch/CMakeLists.txt when find_package(Torch) works; it is not part of
// ark's build, so ark never depends on libtorch.
//
//   libtorch-overhead [--threads N] [--reps N] [--filter SUBSTR]   (ark-bench's flags; others are ignored)
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "bench_common.h"

int main(int argc, char** argv) {
  int threads = 2, reps = 0;
  std::string filter;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--filter") filter = argv[i + 1];
  }
  auto run = [&](const std::string& name, const auto& f) {
    if (filter.empty() || ("overhead/" + name).find(filter) != std::string::npos)
      bench::report("libtorch", "overhead", name, bench::time_case(f, reps));
  };
  torch::set_num_threads(threads);
  std::printf("# side,group,case,median_ms,min_ms,max_ms,gflops,gbps (threads=%d, libtorch C++)\n", threads);
  torch::Tensor a = torch::randn({64}), b = torch::randn({64});
  run("add64", [&] { torch::Tensor c = torch::add(a, b); });
  torch::Tensor ag = torch::randn({64}).requires_grad_();
  run("add64_autograd", [&] { torch::Tensor c = torch::add(ag, b); });
  run("add64_inference", [&] {
    c10::InferenceMode guard;
    torch::Tensor c = torch::add(a, b);
  });
  return 0;
}
