// OpenCV's image decoders (cv::imdecode), loaded on first use. Debian's
// libopencv_imgcodecs is built with GDAL, GDCM, libheif and friends: linking it loads ~140
// libraries at every start of every program that links libark_datasets, ~60 ms of symbol
// relocation before main() (so `ark list` could not answer in 50 ms). dlopen() on the first
// decode pays that once, only in the programs that read images. (PNG figures are written with
// libpng: plot.cpp.)
// Internal to libark_datasets (not installed).
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ark::datasets::detail {

/// cv::imdecode(buf, flags). Throws ark::Error if the codec library cannot be loaded.
cv::Mat imdecode(const cv::Mat& buf, int flags);

}  // namespace ark::datasets::detail
