#pragma once
// metrics.csv: the run's numbers, one row per --log-every steps and one per evaluation, for
// plotting (docs/training.md draws accuracy against time from it):
//
//   step,epoch,loss,lr,train_acc,test_acc,test_acc_tta,images_per_s,elapsed_s
//   50,0.107,1.8421,0.000751,0.3525,,702.1,9.8
//   469,1.000,0.8012,0.002981,0.8100,0.8412,698.4,86.0
//
//   step          optimizer steps done
//   epoch         epochs done, as a fraction (step / steps per epoch)
//   loss          mean training loss (label-smoothed) over the steps since the previous row
//   lr            the learning rate of the last of those steps
//   train_acc     training accuracy over the same steps (of the augmented images, in train mode)
//   test_acc      test accuracy; empty on rows without an evaluation
//   test_acc_tta  with --tta, on the final evaluation's row: the accuracy of the predictions averaged
//                 with the mirror images'; else empty
//   images_per_s  training images per second over those steps (evaluation time excluded)
//   elapsed_s     wall time of the run so far (over all its sessions when resumed)
// An empty cell means "no value" (e.g. loss on an evaluation row right after a logging row).
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#include "core/error.h"

namespace xg::vit::train {

struct MetricsRow {
    int64_t step = 0;
    double epoch = 0;
    std::optional<double> loss = {};
    std::optional<double> lr = {};
    std::optional<double> train_acc = {};
    std::optional<double> test_acc = {};
    std::optional<double> test_acc_tta = {};
    std::optional<double> images_per_s = {};
    double elapsed_s = 0;
};

class MetricsCsv {
  public:
    static constexpr const char* kHeader = "step,epoch,loss,lr,train_acc,test_acc,test_acc_tta,images_per_s,elapsed_s";

    // A new run (resume_step < 0): starts the file anew, with the header. A resumed run: keeps
    // the rows up to resume_step, the checkpoint's step, and drops later ones (written by a
    // session that crashed after its last checkpoint), then appends.
    explicit MetricsCsv(const std::string& path, int64_t resume_step = -1, SrcLoc loc = SrcLoc::current());

    // Appends one row and flushes it, so a crash loses nothing already reported.
    void write(const MetricsRow& row);

    const std::string& path() const { return path_; }

  private:
    std::string path_;
    std::ofstream file_;
};

}  // namespace xg::vit::train
