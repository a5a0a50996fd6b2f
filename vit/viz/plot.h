#pragma once
// Line plots drawn pixel by pixel (axes, "nice" ticks, antialiased lines, a legend), and the
// training curves of a run from the trainer's metrics.csv:
//
//   step,epoch,loss,lr,train_acc,test_acc,test_acc_tta,images_per_s,elapsed_s
//   50,0.107,1.8421,0.000751,0.3525,,702.1,9.8
//
//   viz::Table m = viz::read_csv("runs/fashion_mnist/metrics.csv");
//   viz::write_png(viz::training_curves(m), "curves.png");
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "vit/viz/image.h"

namespace xg::vit::viz {

// A CSV file of numbers with a header row. An empty cell is NaN ("no value on this row": the
// trainer leaves test_acc empty on rows without an evaluation).
struct Table {
    std::vector<std::string> columns;
    std::vector<std::vector<double>> rows;  // each the length of columns

    bool has(const std::string& name) const;
    // All values of one column, top to bottom; an xg::Error lists the columns there are.
    std::vector<double> column(const std::string& name, SrcLoc loc = SrcLoc::current()) const;
};

// `what` names the source in error messages (a bad cell is reported with its row and column).
Table parse_csv(const std::string& text, const std::string& what = "csv", SrcLoc loc = SrcLoc::current());
Table read_csv(const std::string& path, SrcLoc loc = SrcLoc::current());

// One line of a plot. Points whose x or y is not finite are left out; the rest are joined in
// order (a sparse series, like test accuracy once an epoch, becomes a line through its points).
struct Series {
    std::string label;
    std::vector<double> x, y;
    Rgb color = kBlue;
};

struct PlotOptions {
    std::string title, xlabel, ylabel;
    int64_t width = 420, height = 300;
    std::optional<double> y_min = std::nullopt, y_max = std::nullopt;  // default: the data's range, padded by 5%
};

// A plot of width x height pixels: title, axes with ticks at 1/2/5 x 10^k, light grid lines,
// the series, and a legend (in the emptiest corner) when any series has a label.
Image line_plot(const std::vector<Series>& series, const PlotOptions& options = {}, SrcLoc loc = SrcLoc::current());

// Loss against step (left) and train / test accuracy against step (right), two 420 x 300 plots
// side by side (compose_grid). Needs the columns step, loss, train_acc and test_acc.
Image training_curves(const Table& metrics, SrcLoc loc = SrcLoc::current());

// Tick positions covering [lo, hi]: multiples of 1, 2 or 5 x 10^k, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace xg::vit::viz
