#include "ark/datasets/opencv_codecs.h"

#include <dlfcn.h>

#include <mutex>

#include "ark/core/error.h"

namespace ark::datasets::detail {
namespace {

// The exact function of opencv2/imgcodecs.hpp, by its (Itanium ABI) name.
using ImdecodeFn = cv::Mat (*)(const cv::_InputArray&, int);

struct Codecs {
  ImdecodeFn imdecode = nullptr;
};

const Codecs& codecs() {
  static Codecs c;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    // RTLD_NODELETE: the codecs' own static state lives until exit, as if linked.
    void* lib = ::dlopen(ARK_OPENCV_IMGCODECS, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (lib == nullptr) {
      const char* e = ::dlerror();
      error = e ? e : "unknown error";
      return;
    }
    c.imdecode = reinterpret_cast<ImdecodeFn>(::dlsym(lib, "_ZN2cv8imdecodeERKNS_11_InputArrayEi"));
    if (c.imdecode == nullptr) error = "cv::imdecode not found in it";
  });
  ARK_CHECK(error.empty(), "cannot load OpenCV's image codecs (", ARK_OPENCV_IMGCODECS, "): ", error);
  return c;
}

}  // namespace

cv::Mat imdecode(const cv::Mat& buf, int flags) { return codecs().imdecode(buf, flags); }

}  // namespace ark::datasets::detail
