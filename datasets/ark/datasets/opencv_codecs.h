// OpenCV's image codecs (cv::imdecode, cv::imencode), loaded on first use. Debian's
// libopencv_imgcodecs is built with GDAL, GDCM, libheif and friends: linking it loads ~140
// libraries at every start of every program that links libark_datasets, ~60 ms of symbol
// relocation before main() (so `ark list` could not answer in 50 ms). dlopen() on the first
// decode or encode pays that once, only in the programs that read or write images.
// Internal to libark_datasets (not installed).
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ark::datasets::detail {

/// cv::imdecode(buf, flags). Throws ark::Error if the codec library cannot be loaded.
cv::Mat imdecode(const cv::Mat& buf, int flags);
/// cv::imencode(ext, image, out).
bool imencode(const std::string& ext, const cv::Mat& image, std::vector<uint8_t>& out);

}  // namespace ark::datasets::detail
