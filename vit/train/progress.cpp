// The progress bar (see progress.h).
#include "vit/train/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>

namespace xg::vit::train {

namespace {

double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string format_duration(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
    const auto s = static_cast<int64_t>(std::llround(seconds));
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                      static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
    }
    return buf;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

ProgressBar::ProgressBar(std::ostream& out, bool interactive, int64_t log_every)
    : out_(out), interactive_(interactive), log_every_(log_every > 0 ? log_every : 1) {}

ProgressBar::~ProgressBar() { end_bar(); }

std::string ProgressBar::render(const ProgressInfo& p) const {
    constexpr int kWidth = 20;
    const int filled = p.batches > 0 ? static_cast<int>(kWidth * p.batch / p.batches) : 0;
    std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
    char buf[256];
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld %s %lld/%lld  loss %.4f  acc %5.2f%%  %.0f img/s  lr %.2e  ETA %s",
                  static_cast<long long>(p.epoch), static_cast<long long>(p.epochs), bar.c_str(),
                  static_cast<long long>(p.batch), static_cast<long long>(p.batches), p.loss, 100.0 * p.accuracy,
                  p.images_per_s, p.lr, format_duration(p.eta_s).c_str());
    return buf;
}

void ProgressBar::update(const ProgressInfo& info) {
    if (interactive_) {
        // Redraw at most ten times a second, and always at the end of an epoch.
        const double t = now_s();
        if (last_draw_ >= 0 && t - last_draw_ < 0.1 && info.batch != info.batches) return;
        last_draw_ = t;
        // "\r" returns to the start of the line, "\033[K" erases what a longer line left.
        out_ << "\r" << render(info) << "\033[K" << std::flush;
        bar_on_screen_ = true;
    } else if (info.step % log_every_ == 0) {
        out_ << render(info) << "\n" << std::flush;
    }
}

void ProgressBar::end_bar() {
    if (bar_on_screen_) {
        out_ << "\n" << std::flush;
        bar_on_screen_ = false;
        last_draw_ = -1;
    }
}

void ProgressBar::print(const std::string& line) {
    end_bar();
    out_ << line << "\n" << std::flush;
}

}  // namespace xg::vit::train
