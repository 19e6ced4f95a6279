// Labelled user data for fine-tuning and evaluation: one reader per layout, one result type.
//
//   auto data = ark::datasets::read_labeled("photos/");               // photos/<class>/**/*.jpg
//   auto [train_idx, val_idx] = ark::datasets::stratified_split(data, 0.2, 42);
//
// Layouts (read_labeled picks by what `path` is):
// - a folder of class folders: images (torchvision ImageFolder: classes are the sorted folder
//   names, files found recursively, any format image.h decodes, hidden files skipped) or, when the
//   class folders hold .txt files, texts (one sample per file);
// - a CSV/TSV/JSONL manifest (table.h): with a path column, images (relative paths are relative to
//   the manifest's folder); with a text column, texts (and an optional text_pair column); a label
//   column always; optional split and group columns;
// - IDX (MNIST / Fashion-MNIST, gzipped or not): `path` names the images file
//   (train-images-idx3-ubyte[.gz]); the labels file beside it is found by the usual name
//   (images -> labels, idx3 -> idx1); classes are "0".."9" (the label values present, sorted);
// - HDF5 (.h5/.hdf5): two named datasets, inputs uint8 (N, H, W[, C]) and integer labels (N),
//   read chunk by chunk; classes are the label values as text.
// Class order: folders sort their names bytewise (as torchvision); manifests sort their labels
// numerically when every label is an integer ("2" before "10"), else bytewise; IDX/HDF5 numerically.
// Checks (ark::Error naming the file): fewer than two classes, a class folder with no samples, a
// label outside ReadOptions::classes, missing columns, empty texts, mismatched IDX/HDF5 counts.
// Image files are not decoded here: a file that cannot be decoded is the loader's to skip and
// count (loader.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ark/core/tensor.h"

namespace ark::datasets {

enum class DataKind { kImage, kText };

struct Sample {
  std::string path;        // image file (folders, manifests) or text file (text folders)
  int64_t index = -1;      // row of LabeledData::pixels (IDX, HDF5)
  std::string text;        // text samples
  std::string text_pair;   // second text of a pair ("" for none)
  int64_t label = -1;      // index into LabeledData::classes
  std::string group;       // the group column's value ("" when there is none)
  std::string split;       // the split column's value ("" when there is none)
};

struct LabeledData {
  DataKind kind = DataKind::kImage;
  std::string source;                 // the path as given
  std::vector<std::string> classes;   // class names; label i is classes[i]
  std::vector<Sample> samples;
  Tensor pixels;                      // uint8 (N, H, W, C) for IDX/HDF5 sources, else undefined
  std::string sha256;                 // of the data: file names, labels and bytes (see data_hash)

  std::vector<int64_t> class_counts() const;
  /// The decoded image of sample i as uint8 (H, W, 3) (grey expanded to RGB): from `pixels`, or
  /// the file through load_image (which throws for a bad file).
  Tensor image(int64_t i) const;
};

struct ReadOptions {
  std::string path_column = "path";
  std::string text_column = "text";
  std::string text_pair_column = "text_pair";   // optional
  std::string label_column = "label";
  std::string split_column = "split";           // optional
  std::string group_column = "group";           // optional
  std::string hdf5_inputs = "images";
  std::string hdf5_labels = "labels";
  /// When set, the class list is fixed (e.g. a trained model's): a label outside it is an error,
  /// and classes keep this order even if some have no samples.
  std::vector<std::string> classes;
  /// Keep only the first N samples in file order (0: all), e.g. a quick subset of an IDX file
  /// (IDX and HDF5 read only those rows). A folder's order is class by class, so N smaller than
  /// the folder keeps the first classes' samples only; the class list stays complete.
  int64_t max_samples = 0;
};

LabeledData read_labeled(const std::string& path, const ReadOptions& options = {});

/// LabeledData::sha256, computed afresh: SHA-256 over the samples in order, each contributing its
/// key (the path relative to the folder or as the manifest wrote it; the row index for pixels),
/// its label name, and its content (the file's bytes, streamed; the pixel row's bytes; a text
/// manifest's text and text_pair), every field length-prefixed so that no two datasets collide
/// by shifting bytes between fields. Throws ark::Error naming a file that cannot be read.
std::string data_hash(const LabeledData& data);

/// (train, validation) sample indices: for each class, round(fraction * count) of its samples,
/// chosen by a seeded shuffle, go to validation (at least one when the class has two or more, and
/// never the class's last sample: every class keeps one for training). Both lists are sorted.
/// Deterministic for (data, fraction, seed) on every platform (own RNG and shuffle, seeded per
/// class by the seed and the class name, so one class's samples do not move another's split).
/// val_fraction must be in [0, 1).
std::pair<std::vector<int64_t>, std::vector<int64_t>> stratified_split(const LabeledData& data, double val_fraction,
                                                                       uint64_t seed);
/// The samples of the manifest's split column equal to `split` ("train", "val", ...), as indices
/// (sorted; empty when no sample has that split, or the data has no split column).
std::vector<int64_t> split_indices(const LabeledData& data, const std::string& split);
/// The distinct non-empty split values, in first-seen order (empty: no split column).
std::vector<std::string> split_names(const LabeledData& data);
/// A copy holding only `indices`, in that order (pixels shared, sample index fields kept valid;
/// an index out of range is an ark::Error). Its sha256 is derived without rereading files: SHA-256
/// of "subset", the parent's sha256 and the indices.
LabeledData subset(const LabeledData& data, const std::vector<int64_t>& indices);

}  // namespace ark::datasets
