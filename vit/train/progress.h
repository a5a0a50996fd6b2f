#pragma once
// The progress bar of a training run, as tqdm draws one:
//
//   epoch 3/12 [########..........] 187/469  loss 0.5123  acc 86.41%  712 img/s  lr 2.81e-03  ETA 4:12
//
// On a terminal the line is redrawn in place with '\r' (at most ten times a second); when
// stdout is a file or a pipe (a log, CI) a plain line is printed every --log-every steps
// instead, so the log stays readable.
#include <cstdint>
#include <iosfwd>
#include <string>

namespace xg::vit::train {

struct ProgressInfo {
    int64_t epoch = 0, epochs = 0;   // 1-based epoch of how many
    int64_t batch = 0, batches = 0;  // batches of this epoch done, of how many
    int64_t step = 0;                // optimizer steps done
    double loss = 0;                 // running mean loss of the epoch
    double accuracy = 0;             // running training accuracy of the epoch, in [0, 1]
    double images_per_s = 0;
    double lr = 0;
    double eta_s = -1;  // seconds to the end of training (-1: unknown)
};

// "4:05" or "1:02:03".
std::string format_duration(double seconds);

// Whether standard output is a terminal (isatty).
bool stdout_is_terminal();

class ProgressBar {
  public:
    ProgressBar(std::ostream& out, bool interactive, int64_t log_every);
    ~ProgressBar();  // ends a bar still on screen with a newline

    // After every step: redraws the bar (interactive) or prints a line every log_every steps.
    void update(const ProgressInfo& info);
    // A line of its own (an evaluation, a checkpoint message), below the bar.
    void print(const std::string& line);

  private:
    std::string render(const ProgressInfo& info) const;
    void end_bar();

    std::ostream& out_;
    bool interactive_;
    int64_t log_every_;
    bool bar_on_screen_ = false;
    double last_draw_ = -1;
};

}  // namespace xg::vit::train
