#pragma once
// Keras-style progress display, written from the C++ loop through a print function, throttled so a fast
// epoch spends no measurable time on output.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "nncore/model.hpp"

namespace nncore {

class ProgressBar {
 public:
  ProgressBar(int verbose, std::function<void(const std::string&)> print);
  void begin_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  // Called after each batch; redraws at most every 100 ms (and on the last step).
  void update(int64_t step, const Logs& logs);
  void end_epoch(const Logs& logs);  // logs including validation values
  // A bar for evaluate(): no epoch header.
  void begin(int64_t steps);
  void print_line(const std::string& s);

 private:
  static std::string format_logs(const Logs& logs);
  static std::string format_time(double seconds);
  std::string bar(int64_t step) const;
  int verbose_;
  std::function<void(const std::string&)> print_;
  int64_t steps_ = 0;      // -1: unknown (counted as batches arrive)
  int64_t last_step_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace nncore
