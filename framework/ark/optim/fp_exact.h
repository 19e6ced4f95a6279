// ARK_NO_FP_CONTRACT: marks host arithmetic that must round like Python's floats, i.e. every product
// rounded before it is added. GCC contracts `a * b + c` into one fused multiply-add by default on
// FMA targets (ark builds for x86-64-v3), which changes the last bit of LR schedules and of
// `1 - lr * weight_decay`. Internal to optim/; not installed API.
#pragma once

#if defined(__clang__)
// clang contracts only within one expression; files that need exactness add
// `#pragma clang fp contract(off)` after this header.
#define ARK_NO_FP_CONTRACT
#elif defined(__GNUC__)
#define ARK_NO_FP_CONTRACT [[gnu::optimize("fp-contract=off")]]
#else
#define ARK_NO_FP_CONTRACT
#endif
