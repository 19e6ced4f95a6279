// Optimizer checkpoints as safetensors: state_dict() tensors plus metadata naming the format and
// the optimizer class, so a restored optimizer continues bit-identically and a file of another
// optimizer, or of other params, is rejected with a clear ark::Error.
#pragma once
#include <string>

#include "ark/optim/optimizer.h"
#include "ark/optim/schedulers/lr_scheduler.h"

namespace ark::optim {

/// Writes optimizer.state_dict() to `path` (atomically; see io::save_safetensors).
void save(const Optimizer& optimizer, const std::string& path);
/// Restores what save() wrote. Throws ark::Error naming the file if it holds another optimizer's
/// state or does not fit this optimizer's groups and param shapes (the optimizer is then unchanged).
void load(Optimizer& optimizer, const std::string& path);

/// The same for an LR scheduler's state_dict().
void save(const LRScheduler& scheduler, const std::string& path);
void load(LRScheduler& scheduler, const std::string& path);

}  // namespace ark::optim
