// The umbrella header: everything ark's framework offers.
#pragma once
#include "ark/autograd/engine.h"
#include "ark/autograd/function.h"
#include "ark/autograd/grad_mode.h"
#include "ark/autograd/node.h"
#include "ark/core/parallel.h"
#include "ark/core/tensor.h"
#include "ark/ops/indexing.h"
#include "ark/ops/ops.h"
#include "ark/io/safetensors.h"
#include "ark/data/data.h"
#include "ark/optim/optim.h"
#include "ark/nn/nn.h"
