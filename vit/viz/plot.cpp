#include "vit/viz/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "vit/viz/layout.h"

namespace xg::vit::viz {

// ---- CSV ---------------------------------------------------------------------------------------

namespace {

std::vector<std::string> split_commas(const std::string& line) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();  // a trailing empty cell
    return cells;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

bool Table::has(const std::string& name) const { return std::find(columns.begin(), columns.end(), name) != columns.end(); }

std::vector<double> Table::column(const std::string& name, SrcLoc loc) const {
    auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end()) {
        std::string all;
        for (const std::string& c : columns) all += (all.empty() ? "" : ", ") + c;
        throw_error("viz::Table: no column \"" + name + "\" (the columns are: " + all + ")", loc);
    }
    const size_t j = static_cast<size_t>(it - columns.begin());
    std::vector<double> out;
    out.reserve(rows.size());
    for (const auto& row : rows) out.push_back(row[j]);
    return out;
}

Table parse_csv(const std::string& text, const std::string& what, SrcLoc loc) {
    Table t;
    std::istringstream in(text);
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (trim(line).empty()) continue;
        std::vector<std::string> cells = split_commas(line);
        if (t.columns.empty()) {
            for (const std::string& c : cells) t.columns.push_back(trim(c));
            continue;
        }
        XG_CHECK(cells.size() == t.columns.size(), loc,
                 what << ": line " << line_no << " has " << cells.size() << " cells, the header " << t.columns.size());
        std::vector<double> row;
        row.reserve(cells.size());
        for (size_t j = 0; j < cells.size(); ++j) {
            const std::string c = trim(cells[j]);
            if (c.empty()) {
                row.push_back(std::numeric_limits<double>::quiet_NaN());
                continue;
            }
            size_t used = 0;
            double v = 0;
            try {
                v = std::stod(c, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            XG_CHECK(used == c.size(), loc,
                     what << ": line " << line_no << ", column " << t.columns[j] << ": \"" << c << "\" is not a number");
            row.push_back(v);
        }
        t.rows.push_back(std::move(row));
    }
    XG_CHECK(!t.columns.empty(), loc, what << ": empty (no header row)");
    return t;
}

Table read_csv(const std::string& path, SrcLoc loc) {
    std::ifstream f(path);
    XG_CHECK(f.good(), loc, "viz::read_csv: cannot open " << path);
    std::ostringstream text;
    text << f.rdbuf();
    return parse_csv(text.str(), path, loc);
}

// ---- plots -------------------------------------------------------------------------------------

std::vector<double> nice_ticks(double lo, double hi, int target) {
    if (!(hi > lo) || target < 1) return {lo};
    const double raw = (hi - lo) / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / mag;
    const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
    std::vector<double> ticks;
    for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
        ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);  // no "-0"
    return ticks;
}

namespace {

// Tick labels with as many decimals as the step needs: 0, 2000, 4000 / 0.2, 0.4 / 0.05, 0.10.
std::string tick_label(double v, double step) {
    const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

struct Range {
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
    void add(double v) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    bool empty() const { return lo > hi; }
};

}  // namespace

Image line_plot(const std::vector<Series>& series, const PlotOptions& options, SrcLoc loc) {
    XG_CHECK(options.width >= 120 && options.height >= 100, loc,
             "viz::line_plot: a plot needs at least 120 x 100 pixels, got " << options.width << " x " << options.height);
    Image img(options.width, options.height, kWhite, loc);
    const int64_t th = text_height(1);

    // The data's extent (finite points only).
    Range xr, yr;
    for (const Series& s : series) {
        XG_CHECK(s.x.size() == s.y.size(), loc,
                 "viz::line_plot: series \"" << s.label << "\" has " << s.x.size() << " x and " << s.y.size() << " y values");
        for (size_t i = 0; i < s.x.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
                xr.add(s.x[i]);
                yr.add(s.y[i]);
            }
    }
    const bool no_data = xr.empty();
    if (no_data) {
        xr = {0, 1};
        yr = {0, 1};
    }
    if (xr.hi == xr.lo) xr = {xr.lo - 1, xr.hi + 1};  // one point: centre it
    const double pad = (yr.hi - yr.lo) * 0.05;
    double y0 = options.y_min.value_or(yr.lo - pad), y1 = options.y_max.value_or(yr.hi + pad);
    if (!(y1 > y0)) {  // a flat series
        y0 -= 1;
        y1 += 1;
    }
    const std::vector<double> xt = nice_ticks(xr.lo, xr.hi), yt = nice_ticks(y0, y1);
    const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;

    // Margins: a title band on top; y label and tick labels on the left; tick labels and x label below.
    int64_t ylabels_w = 0;
    for (double v : yt) ylabels_w = std::max(ylabels_w, text_width(tick_label(v, ystep)));
    const int64_t top = options.title.empty() ? 10 : text_height(2) + 10;
    const int64_t left = (options.ylabel.empty() ? 4 : th + 6) + ylabels_w + 6;
    const int64_t bottom = th + 6 + (options.xlabel.empty() ? 4 : th + 6);
    const int64_t right = 14;
    const int64_t pw = options.width - left - right, ph = options.height - top - bottom;
    auto px = [&](double x) { return left + (x - xr.lo) / (xr.hi - xr.lo) * static_cast<double>(pw - 1); };
    auto py = [&](double y) { return top + (1.0 - (y - y0) / (y1 - y0)) * static_cast<double>(ph - 1); };

    if (!options.title.empty())
        img.draw_text((options.width - text_width(options.title, 2)) / 2, 4, options.title, kBlack, 2);
    if (!options.ylabel.empty())
        img.draw_text_vertical(2, top + (ph - text_width(options.ylabel)) / 2, options.ylabel, kBlack);
    if (!options.xlabel.empty())
        img.draw_text(left + (pw - text_width(options.xlabel)) / 2, options.height - th - 3, options.xlabel, kBlack);

    // Grid lines and tick labels, then the frame over them.
    for (double v : xt) {
        const int64_t x = std::lround(px(v));
        img.fill_rect(x, top, 1, ph, kLightGray);
        const std::string label = tick_label(v, xstep);
        img.draw_text(x - text_width(label) / 2, top + ph + 4, label, kBlack);
    }
    for (double v : yt) {
        const int64_t y = std::lround(py(v));
        img.fill_rect(left, y, pw, 1, kLightGray);
        const std::string label = tick_label(v, ystep);
        img.draw_text(left - 5 - text_width(label), y - th / 2 + 1, label, kBlack);
    }
    img.stroke_rect(left, top, pw, ph, kGray);
    if (no_data) {
        img.draw_text(left + (pw - text_width("no data")) / 2, top + ph / 2, "no data", kGray);
        return img;
    }

    std::vector<std::pair<double, double>> drawn;  // points along every line, for placing the legend
    for (const Series& s : series) {
        std::vector<std::pair<double, double>> pts;
        for (size_t i = 0; i < s.x.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts.emplace_back(px(s.x[i]), py(s.y[i]));
        for (size_t i = 1; i < pts.size(); ++i) {
            img.draw_line(pts[i - 1].first, pts[i - 1].second, pts[i].first, pts[i].second, s.color, 2);
            for (double f : {0.25, 0.5, 0.75})
                drawn.emplace_back(pts[i - 1].first + f * (pts[i].first - pts[i - 1].first),
                                   pts[i - 1].second + f * (pts[i].second - pts[i - 1].second));
        }
        drawn.insert(drawn.end(), pts.begin(), pts.end());
        // Few points (an evaluation per epoch): mark each, so a single one is visible too.
        if (pts.size() <= 40)
            for (const auto& [x, y] : pts) img.fill_rect(std::lround(x) - 2, std::lround(y) - 2, 5, 5, s.color);
    }

    // Legend, in the corner of the frame that covers the fewest points of the lines (a loss
    // falls to the bottom right, an accuracy climbs to the top right).
    std::vector<const Series*> labelled;
    for (const Series& s : series)
        if (!s.label.empty()) labelled.push_back(&s);
    if (!labelled.empty()) {
        int64_t lw = 0;
        for (const Series* s : labelled) lw = std::max(lw, text_width(s->label));
        const int64_t box_w = lw + 30, box_h = static_cast<int64_t>(labelled.size()) * (th + 4) + 6;
        int64_t bx = 0, by = 0;
        size_t fewest = SIZE_MAX;
        for (const auto& [cx, cy] : {std::pair<int64_t, int64_t>{left + pw - box_w - 6, top + 6},
                                     {left + pw - box_w - 6, top + ph - box_h - 6},
                                     {left + 6, top + 6},
                                     {left + 6, top + ph - box_h - 6}}) {
            const size_t covered = static_cast<size_t>(std::count_if(drawn.begin(), drawn.end(), [&](const auto& p) {
                return p.first >= cx - 3 && p.first <= cx + box_w + 3 && p.second >= cy - 3 && p.second <= cy + box_h + 3;
            }));
            if (covered < fewest) {
                fewest = covered;
                bx = cx;
                by = cy;
            }
        }
        img.fill_rect(bx, by, box_w, box_h, kWhite);
        img.stroke_rect(bx, by, box_w, box_h, kGray);
        for (size_t i = 0; i < labelled.size(); ++i) {
            const int64_t ly = by + 4 + static_cast<int64_t>(i) * (th + 4);
            img.fill_rect(bx + 5, ly + th / 2 - 1, 16, 3, labelled[i]->color);
            img.draw_text(bx + 25, ly, labelled[i]->label, kBlack);
        }
    }
    return img;
}

Image training_curves(const Table& metrics, SrcLoc loc) {
    const std::vector<double> step = metrics.column("step", loc);
    Series loss{"", step, metrics.column("loss", loc), kBlue};
    Series train{"train", step, metrics.column("train_acc", loc), kBlue};
    Series test{"test", step, metrics.column("test_acc", loc), kOrange};
    Image left = line_plot({loss}, {.title = "training loss", .xlabel = "step", .ylabel = "loss"}, loc);
    Image right = line_plot({train, test}, {.title = "accuracy", .xlabel = "step", .ylabel = "accuracy"}, loc);
    return compose_grid({{left, right}}, {}, loc);
}

}  // namespace xg::vit::viz
