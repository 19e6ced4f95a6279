// ark/optim: optimizers (SGD, Adam, AdamW, RMSprop), LR schedulers, gradient clipping and
// optimizer checkpoints. Include this or the individual headers.
#pragma once
#include "ark/optim/adam.h"
#include "ark/optim/adamw.h"
#include "ark/optim/clip_grad.h"
#include "ark/optim/optimizer.h"
#include "ark/optim/rmsprop.h"
#include "ark/optim/schedulers/cosine_annealing_lr.h"
#include "ark/optim/schedulers/lr_scheduler.h"
#include "ark/optim/schedulers/one_cycle_lr.h"
#include "ark/optim/schedulers/sequential_lr.h"
#include "ark/optim/schedulers/step_lr.h"
#include "ark/optim/serialize.h"
#include "ark/optim/sgd.h"
