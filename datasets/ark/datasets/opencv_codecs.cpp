#include "ark/datasets/opencv_codecs.h"

#include <dlfcn.h>

#include <mutex>

#include "ark/core/error.h"

namespace ark::datasets::detail {
namespace {

// The exact functions of opencv2/imgcodecs.hpp, by their (Itanium ABI) names.
using ImdecodeFn = cv::Mat (*)(const cv::_InputArray&, int);
using ImencodeFn = bool (*)(const std::string&, const cv::_InputArray&, std::vector<uchar>&, const std::vector<int>&);

struct Codecs {
  ImdecodeFn imdecode = nullptr;
  ImencodeFn imencode = nullptr;
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
    c.imencode = reinterpret_cast<ImencodeFn>(::dlsym(
        lib, "_ZN2cv8imencodeERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEERKNS_11_InputArrayERSt6vectorIhSaIhEERKSB_IiSaIiEE"));
    if (c.imdecode == nullptr || c.imencode == nullptr) error = "cv::imdecode/cv::imencode not found in it";
  });
  ARK_CHECK(error.empty(), "cannot load OpenCV's image codecs (", ARK_OPENCV_IMGCODECS, "): ", error);
  return c;
}

}  // namespace

cv::Mat imdecode(const cv::Mat& buf, int flags) { return codecs().imdecode(buf, flags); }

bool imencode(const std::string& ext, const cv::Mat& image, std::vector<uint8_t>& out) {
  return codecs().imencode(ext, image, out, std::vector<int>());
}

}  // namespace ark::datasets::detail
