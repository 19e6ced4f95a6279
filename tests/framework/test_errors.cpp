// Bad input raises ark::Error saying what was expected and what was got: mismatched shapes and
// dtypes, bad dims, indices out of range, invalid arguments. (Backward misuse is covered in
// test_autograd.cpp, malformed files in test_safetensors.cpp.)
#include <gtest/gtest.h>

#include <functional>

#include "ark/ark.h"

using namespace ark;

namespace {
void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}
#define EXPECT_ERROR(stmt, fragment) expect_error([&] { (void)(stmt); }, fragment)
}  // namespace

TEST(Errors, ShapeMismatches) {
  EXPECT_ERROR(randn({2, 3}) + randn({4}), "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1");
  EXPECT_ERROR(mm(randn({2, 3}), randn({4, 5})), "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
  EXPECT_ERROR(matmul(randn({2, 3, 4}), randn({5, 6})), "shapes cannot be multiplied");
  EXPECT_ERROR(bmm(randn({2, 3, 4}), randn({3, 4, 5})), "same number of batches, got 2 and 3");
  EXPECT_ERROR(randn({6}).view({4, 2}), "shape [4, 2] is invalid for input of size 6");
  EXPECT_ERROR(randn({6}).view({-1, -1}), "only one dimension can be inferred");
  EXPECT_ERROR(randn({4, 3}).t().view({12}), "view size is not compatible with input tensor's size and stride");
  EXPECT_ERROR(randn({3, 1}).expand({3, 2, 5}), "must match the existing size (3) at non-singleton dimension 1");
  EXPECT_ERROR(cat({randn({2, 3}), randn({2, 4})}), "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4");
  EXPECT_ERROR(stack({randn({2}), randn({3})}), "stack expects each tensor to be equal size");
  EXPECT_ERROR(linear(randn({2, 5}), randn({3, 4})), "input's last dim (5) does not match weight's in_features (4)");
  EXPECT_ERROR(mse_loss(randn({2, 3}), randn({3, 2})), "target size [3, 2] must be the same as input size [2, 3]");
  EXPECT_ERROR(layer_norm(randn({2, 5}), {4}), "expected input with shape [*, [4]], but got input of size [2, 5]");
  EXPECT_ERROR(randn({2, 3}).copy_(randn({4})), "cannot be broadcast to the destination's shape [2, 3]");
}

TEST(Errors, DtypeMismatches) {
  EXPECT_ERROR(mm(randn({2, 2}), randn({2, 2}, kDouble)), "expected both operands to have the same dtype, but got float32 and float64");
  EXPECT_ERROR(conv2d(randn({1, 3, 8, 8}), randn({4, 3, 3, 3}, kDouble)), "input type (float32) and weight type (float64) should be the same");
  EXPECT_ERROR(arange(3).requires_grad_(), "only Tensors of floating point dtype can require gradients, got int64");
  EXPECT_ERROR(arange(3).mean(), "Input dtype must be either a floating point or complex dtype. Got: Long");
  EXPECT_ERROR(arange(3).add_(1.5), "result type float32 can't be cast to the desired output type int64");
  EXPECT_ERROR(tensor({true}) - tensor({false}), "Subtraction, the `-` operator, with two bool tensors is not supported");
  EXPECT_ERROR(-tensor({true}), "Negation, the `-` operator, on a bool tensor is not supported");
  EXPECT_ERROR(randn({3}).masked_fill(tensor({1, 0, 1}), 0), "masked_fill only supports boolean masks, but got mask with dtype int64");
  EXPECT_ERROR(where(tensor({1, 0}), randn({2}), randn({2})), "where expected condition to be a boolean tensor");
  EXPECT_ERROR(softmax(arange(4), 0), "expected a floating point tensor, got int64");
  EXPECT_ERROR(randn({3}).data_ptr<int64_t>(), "tensor has dtype float32 but int64 was requested");
  EXPECT_ERROR(tensor({2, 3}).pow(-1), "Integers to negative integer powers are not allowed");
  EXPECT_ERROR(div(tensor({4}), tensor({0}), "floor"), "ZeroDivisionError");
  EXPECT_ERROR(index_select(randn({3}), 0, tensor({0.5f})), "Expected dtype int64 or int32 for index, got float32");
}

TEST(Errors, BadDims) {
  EXPECT_ERROR(randn({2, 3}).sum(2), "dimension out of range (expected to be in range of [-2, 1], but got 2)");
  EXPECT_ERROR(randn({2, 3}).transpose(0, -3), "dimension out of range (expected to be in range of [-2, 1], but got -3)");
  EXPECT_ERROR(randn({2, 3}).permute({0}), "number of dims don't match");
  EXPECT_ERROR(randn({2, 3}).permute({0, 0}), "appears multiple times in the list of dims");
  EXPECT_ERROR(randn({2, 3}).select(1, 3), "index 3 out of range for tensor of size [2, 3] at dimension 1");
  EXPECT_ERROR(randn({2, 3}).narrow(1, 2, 2), "start (2) + length (2) exceeds dimension size (3)");
  EXPECT_ERROR(randn({2, 3, 4}).t(), "t() expects a tensor with <= 2 dimensions, but self is 3D");
  EXPECT_ERROR(conv2d(randn({3, 8}), randn({4, 3, 3, 3})), "expected 3-D (unbatched) or 4-D (batched) input, got 2-D");
  EXPECT_ERROR(conv2d(randn({1, 4, 8, 8}), randn({5, 3, 3, 3})), "to have 3 channels, but got 4 channels instead");
  EXPECT_ERROR(conv2d(randn({1, 3, 2, 2}), randn({5, 3, 3, 3})), "Kernel size can't be greater than actual input size");
  EXPECT_ERROR(conv2d(randn({1, 3, 8, 8}), randn({4, 3, 3, 3}), {}, 0), "non-positive stride is not supported");
  EXPECT_ERROR(max_pool2d(randn({1, 1, 4, 4}), 2, 2, 2), "pad should be at most half of effective kernel size");
  EXPECT_ERROR(batch_norm(randn({1, 3}), {}, {}, zeros({3}), ones({3}), true, 0.1, 1e-5),
               "Expected more than 1 value per channel when training");
  EXPECT_ERROR(batch_norm(randn({2, 3}), ones({4}), {}, {}, {}, true, 0.1, 1e-5), "expected weight of shape [3], got [4]");
  EXPECT_ERROR(group_norm(randn({2, 6, 4}), 4), "expected number of channels in input (6) to be divisible by num_groups (4)");
  EXPECT_ERROR(split(randn({4}), -1), "split expects split_size be non-negative");
  EXPECT_ERROR(empty({2, -1}), "negative dimension -1");
  EXPECT_ERROR(arange(0, 10, 0), "step must be nonzero");
  EXPECT_ERROR(dropout(randn({3}), 1.5, true), "dropout probability has to be between 0 and 1, but got 1.5");
}

TEST(Errors, IndicesOutOfRange) {
  EXPECT_ERROR(index_select(randn({5, 2}), 0, tensor({1, 10})), "index 10 is out of bounds for dimension 0 with size 5");
  EXPECT_ERROR(randn({3, 4}).gather(1, tensor({{0}, {4}, {1}})), "index 4 is out of bounds for dimension 1 with size 4");
  EXPECT_ERROR(zeros({3}).scatter(0, tensor({-1}), ones({1})), "index -1 is out of bounds for dimension 0 with size 3");
  EXPECT_ERROR(embedding(randn({10, 4}), tensor({3, 10})), "index out of range in self: indices must be in [0, 10), got 10");
  EXPECT_ERROR(cross_entropy_loss(randn({2, 3}), tensor({0, 3})), "target 3 is out of bounds for 3 classes");
  EXPECT_ERROR(nll_loss(randn({2, 3}), tensor({0, 1, 2})), "expected target of size [2] for input of size [2, 3], got [3]");
  EXPECT_ERROR(randn({4, 5}).index({tensor({0, 7})}), "index 7 is out of bounds for dimension 0 with size 4");
  EXPECT_ERROR(randn({4, 5}).index({Tensor(tensor({true, false}))}), "The shape of the mask [2] at index 0 does not match");
  EXPECT_ERROR(randn({2}).index({0, 1}), "too many indices for tensor of dimension 1");
  EXPECT_ERROR(one_hot(tensor({0, 5}), 4), "class values must be smaller than num_classes (4), got 5");
  EXPECT_ERROR(randn({3})[3], "index 3 out of range");
  EXPECT_ERROR(randn({2, 2}).item<float>(), "a Tensor with 4 elements cannot be converted to Scalar");
}
