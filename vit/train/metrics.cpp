// metrics.csv (see metrics.h).
#include "vit/train/metrics.h"

#include <cstdio>
#include <sstream>
#include <vector>

namespace xg::vit::train {

namespace {

std::string cell(const std::optional<double>& v, const char* format) {
    if (!v) return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, format, *v);
    return buf;
}

// The step of a data row ("123,..." -> 123), or -1 for anything else.
int64_t row_step(const std::string& line) {
    int64_t step = 0;
    size_t i = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) step = step * 10 + (line[i] - '0');
    return i > 0 && i < line.size() && line[i] == ',' ? step : -1;
}

}  // namespace

MetricsCsv::MetricsCsv(const std::string& path, int64_t resume_step, SrcLoc loc) : path_(path) {
    std::vector<std::string> kept;
    if (resume_step >= 0) {
        std::ifstream old(path);
        for (std::string line; std::getline(old, line);) {
            int64_t step = row_step(line);
            if (step >= 0 && step <= resume_step) kept.push_back(line);
        }
    }
    file_.open(path, std::ios::out | std::ios::trunc);
    XG_CHECK(file_.is_open(), loc, "metrics: cannot write " << path);
    file_ << kHeader << "\n";
    for (const auto& line : kept) file_ << line << "\n";
    file_.flush();
}

void MetricsCsv::write(const MetricsRow& r) {
    file_ << r.step << "," << cell(r.epoch, "%.3f") << "," << cell(r.loss, "%.4f") << "," << cell(r.lr, "%.6g") << ","
          << cell(r.train_acc, "%.4f") << "," << cell(r.test_acc, "%.4f") << "," << cell(r.test_acc_tta, "%.4f") << ","
          << cell(r.images_per_s, "%.1f") << "," << cell(r.elapsed_s, "%.1f") << "\n";
    file_.flush();
}

}  // namespace xg::vit::train
