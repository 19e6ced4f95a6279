// The umbrella header of libark_datasets: image decoding and preprocessing (more readers and
// tokenizers join here as they land).
#pragma once
#include "ark/datasets/image.h"
#include "ark/datasets/transforms.h"
