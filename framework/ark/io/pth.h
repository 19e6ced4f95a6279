// PyTorch checkpoints (.pth, .pt, .bin as torch.save writes them), read without Python and
// without executing anything. Two formats:
//  - zip (PyTorch >= 1.6): <archive>/data.pkl, <archive>/data/<key> (one STORED record per
//    storage), <archive>/version and optionally <archive>/byteorder;
//  - legacy (torch.save(..., _use_new_zipfile_serialization=False)): five pickles back to back
//    (magic number, protocol version, sys info, the object, the storage keys) then the raw storages.
// data.pkl goes through a weights-only pickle VM (ark/io/unpickler.h) whose allowlist matches
// PyTorch's weights_only loader. Tensors view their storage as in PyTorch (shared storages,
// offsets, strides), zero-copy over a private mapping of the file when the record is aligned.
// Left out on purpose: the pre-0.4 tar format, TorchScript archives, compressed records, sparse,
// quantized and complex tensors, int8/int16 (no ark dtype), and any class beyond the allowlist.
#pragma once
#include <string>
#include <string_view>

#include "ark/io/safetensors.h"
#include "ark/io/unpickler.h"

namespace ark::io {

struct PthFile {
  /// Every tensor of the pickled object, in pickle order, under dotted paths: a plain state dict
  /// gives its own keys ("conv1.weight"); {'state_dict': sd, 'optimizer': ...} gives
  /// "state_dict.conv1.weight", "optimizer.state.0.momentum_buffer", ...
  TensorDict tensors;
  /// "pth.format" ("zip" or "legacy"), "pth.version", "pth.byteorder", "pth.archive" (the zip
  /// folder), "pth.state_dict" (the top-level key holding the state dict of a training
  /// checkpoint, "state_dict" or "model", else empty), and the file's scalar leaves by path
  /// ("epoch" -> "3", "optimizer.param_groups.0.lr" -> "0.1").
  Metadata metadata;
};

struct PthOptions {
  /// Check every record against its CRC-32, as PyTorch's reader does (fuzzers turn it off).
  bool verify_crc32 = true;
  pickle::Limits limits;
};

/// Reads a checkpoint file (memory-mapped). Throws ark::Error naming the file and what is wrong.
PthFile load_pth(const std::string& path, const PthOptions& options = {});
/// Parses an in-memory checkpoint image (copied; the result does not reference `data`).
PthFile parse_pth(const void* data, size_t size, const std::string& name = "<memory>", const PthOptions& options = {});

/// True when `prefix` (the first bytes of a file) is a zip archive whose first record is a
/// torch.save data.pkl, a legacy torch.save pickle, or a tar archive (refused with a clear
/// message by load_pth).
bool looks_like_pth(std::string_view prefix);

}  // namespace ark::io
