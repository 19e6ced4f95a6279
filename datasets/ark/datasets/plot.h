// PNG figures drawn with OpenCV (no plotting library on the machine): line charts of training
// curves, a confusion-matrix heatmap, and a heatmap overlaid on an image (Grad-CAM). Files are
// written atomically (a temp file beside the target, then rename; no temp file is left when that
// fails); errors are ark::Error naming the path.
//
// Text uses OpenCV's Hershey font, which has ASCII only: other characters are drawn as '?'. Text
// too long for its place is shortened with "...".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ark/core/tensor.h"

namespace ark::datasets {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points (and |v| > 1e300) are left out
};

/// A line chart with axes, ticks (1-2-5 steps), a title and a legend (series with a name, in the
/// emptiest corner), `width` x `height` pixels. A non-finite point breaks its line, as in
/// matplotlib; points are marked when a series has at most 40. A constant series or a single point
/// gets a range around its value; no finite point at all gives empty axes saying "no data".
/// Throws ark::Error naming the path for x/y of different lengths, a size outside 200x150 ..
/// 8192x8192, or a failed write.
void plot_lines(const std::string& path, const std::vector<Series>& series, const std::string& title,
                const std::string& x_label, const std::string& y_label, int width = 800, int height = 500);

/// The confusion matrix [true][predicted] as a heatmap with class names and counts (rows
/// normalised for colour, viridis as sklearn's ConfusionMatrixDisplay; a colour bar gives the
/// scale). Counts are drawn up to 30 classes, names up to 60 (beyond, the axes get class indices);
/// over 1000 classes the matrix is averaged down to 1000 x 1000 pixels. `classes` may be empty
/// (indices are used). Throws ark::Error naming the path for a non-square matrix, negative counts
/// or a class list of another size.
void plot_confusion(const std::string& path, const std::vector<std::vector<int64_t>>& confusion,
                    const std::vector<std::string>& classes, const std::string& title = "Confusion matrix");

/// A float (H, W) heatmap in [0, 1] resized to the uint8 (H', W', 3) RGB image, coloured with the
/// jet colour map and blended with weight `alpha`; returns uint8 (H', W', 3) RGB.
/// out = (1 - alpha) * image + alpha * jet(heatmap), rounded. The heatmap is resized bilinearly
/// (cv::resize INTER_LINEAR, i.e. half-pixel centres as F.interpolate(align_corners=False)); values
/// are clamped to [0, 1] and NaN counts as 0. A (1, H, W) heatmap is accepted too.
Tensor overlay_heatmap(const Tensor& image, const Tensor& heatmap, double alpha = 0.5);
/// Writes a uint8 (H, W, 3) RGB image as PNG (atomically).
void write_png(const std::string& path, const Tensor& image);

}  // namespace ark::datasets
