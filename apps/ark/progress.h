// The per-epoch progress display of `ark finetune`: one line rewritten in place on a terminal
// (bar, step, loss, accuracy, rate, ETA), plain lines every ~10 % of the epoch otherwise.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

namespace ark::cli {

/// "m:ss" or "h:mm:ss"; "--:--" when unknown.
std::string format_duration(double seconds);

/// One progress line per epoch on a terminal (rewritten in place), plain lines every ~10 % of
/// the epoch otherwise.
class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t batches, const char* unit)
      : epoch_(epoch), epochs_(epochs), batches_(batches), unit_(unit), tty_(::isatty(2) != 0),
        start_(std::chrono::steady_clock::now()) {}
  void update(int64_t done, int64_t first, double loss, double acc, int64_t items) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(items) / elapsed : 0;
    const int64_t run = done - first;
    const double eta = run > 0 ? elapsed / static_cast<double>(run) * static_cast<double>(batches_ - done) : NAN;
    std::ostringstream line;
    line << "epoch " << epoch_ << "/" << epochs_ << " ";
    if (tty_) {
      const int width = 24;
      const int filled = batches_ > 0 ? static_cast<int>(width * done / batches_) : width;
      line << "[" << std::string(static_cast<size_t>(filled), '=') << std::string(static_cast<size_t>(width - filled), ' ')
           << "] ";
    }
    line << done << "/" << batches_ << std::fixed << std::setprecision(4) << " loss " << loss;
    if (std::isfinite(acc)) line << std::setprecision(3) << " acc " << acc;
    line << std::setprecision(1) << " " << rate << " " << unit_ << "/s eta " << format_duration(eta);
    if (tty_) {
      std::cerr << "\r" << line.str() << "\033[K" << std::flush;
    } else {
      const int64_t every = std::max<int64_t>(1, batches_ / 10);
      if (done % every == 0 || done == batches_) std::cerr << line.str() << "\n" << std::flush;
    }
  }
  void finish() {
    if (tty_) std::cerr << "\n" << std::flush;
  }

 private:
  int64_t epoch_, epochs_, batches_;
  const char* unit_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ark::cli
