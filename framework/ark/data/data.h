// ark::data, the libtorch-shaped data API (torch::data): examples, datasets (MNIST among them),
// transforms, samplers and the DataLoader.
#pragma once
#include "ark/data/dataloader.h"
#include "ark/data/datasets.h"
#include "ark/data/example.h"
#include "ark/data/mnist.h"
#include "ark/data/samplers.h"
#include "ark/data/transforms.h"
