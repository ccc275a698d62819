#include "model/progress.hpp"

#include <cmath>
#include <cstdio>

namespace nncore {

ProgressBar::ProgressBar(int verbose, std::function<void(const std::string&)> print)
    : verbose_(verbose), print_(std::move(print)) {
  if (!print_) print_ = [](const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
}

void ProgressBar::print_line(const std::string& s) { print_(s); }

void ProgressBar::begin(int64_t steps) {
  steps_ = steps;
  last_step_ = 0;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_;
  drawn_ = false;
}

void ProgressBar::begin_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  if (verbose_ > 0) print_("Epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs) + "\n");
  begin(steps);
}

std::string ProgressBar::format_logs(const Logs& logs) {
  std::string s;
  char buf[64];
  for (const auto& kv : logs) {
    const double v = kv.second;
    if (v != 0.0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e4)) std::snprintf(buf, sizeof buf, "%.4e", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    s += " - " + kv.first + ": " + buf;
  }
  return s;
}

std::string ProgressBar::format_time(double sec) {
  char buf[32];
  if (sec >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", int(sec / 3600), int(std::fmod(sec, 3600) / 60), int(std::fmod(sec, 60)));
  else if (sec >= 60) std::snprintf(buf, sizeof buf, "%d:%02d", int(sec / 60), int(std::fmod(sec, 60)));
  else std::snprintf(buf, sizeof buf, "%.0fs", sec);
  return buf;
}

std::string ProgressBar::bar(int64_t step) const {
  if (steps_ < 0) return std::to_string(step) + "/Unknown";  // batches from a generator of unknown length
  const int width = 30;
  const std::string total = std::to_string(steps_);
  std::string s = std::to_string(step);
  s = std::string(total.size() - s.size(), ' ') + s + "/" + total + " [";
  const int done = steps_ > 0 ? static_cast<int>(width * step / steps_) : width;
  for (int i = 0; i < width; ++i) s += i < done - 1 || (i == done - 1 && step == steps_) ? '=' : (i == done - 1 ? '>' : '.');
  if (done == 0) s[s.size() - width] = '>';
  return s + "]";
}

void ProgressBar::update(int64_t step, const Logs& logs) {
  last_step_ = step;
  if (verbose_ != 1) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = steps_ >= 0 && step >= steps_;
  if (!last && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string line = "\r" + bar(step);
  if (!last && steps_ > 0) {
    const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(steps_ - step) : 0.0;
    line += " - ETA: " + format_time(eta);
  } else {
    line += " - " + format_time(elapsed);
  }
  print_(line + format_logs(logs) + "\x1b[K");
}

void ProgressBar::end_epoch(const Logs& logs) {
  if (steps_ < 0) steps_ = last_step_;  // now known
  if (verbose_ == 0) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  char per_step[32];
  const double ms = steps_ > 0 ? 1000.0 * elapsed / static_cast<double>(steps_) : 0.0;
  if (ms >= 1.0) std::snprintf(per_step, sizeof per_step, "%.0fms/step", ms);
  else std::snprintf(per_step, sizeof per_step, "%.0fus/step", ms * 1000.0);
  if (verbose_ == 1)
    print_("\r" + bar(steps_) + " - " + format_time(elapsed) + " " + per_step + format_logs(logs) + "\x1b[K\n");
  else
    print_(std::to_string(steps_) + "/" + std::to_string(steps_) + " - " + format_time(elapsed) + " - " + per_step +
           format_logs(logs) + "\n");
}

}  // namespace nncore
