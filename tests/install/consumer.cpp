// The README's library example, built against an installed ark (see install_test.sh).
#include <ark/ark.h>
#include <iostream>
namespace nn = ark::nn;

int main() {
  ark::manual_seed(0);
  nn::Sequential model(nn::Linear(2, 32), nn::ReLU(), nn::Linear(32, 2));
  ark::optim::AdamW opt(model->parameters(), ark::optim::AdamWOptions(1e-2));
  ark::Tensor x = ark::randn({256, 2});
  ark::Tensor y = (x.select(1, 0) * x.select(1, 1) > 0).to(ark::kLong);  // XOR of the signs
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    ark::Tensor loss = ark::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    if (step % 100 == 0) std::cout << "step " << step << " loss " << loss.item<float>() << "\n";
  }
  ark::NoGradGuard no_grad;
  const float accuracy = (model->forward(x).argmax(1) == y).to(ark::kFloat).mean().item<float>();
  std::cout << "accuracy " << accuracy << "\n";
  return accuracy > 0.9f ? 0 : 1;
}
