#pragma once
// A small RGB raster and what the pictures of vit/viz draw on it: rectangles, antialiased lines,
// text (stb_easy_font's bitmap glyphs), colour maps, and PNG output (stb_image_write).
//
//   viz::Image img(200, 100);                        // white, 200 x 100
//   img.fill_rect(10, 10, 50, 20, viz::kBlack);
//   img.draw_text(10, 40, "loss", viz::kBlack, 2);   // 2x the 7-pixel-tall glyphs
//   viz::write_png(img, "out.png");
//
// Coordinates are pixels, x to the right and y down, (0, 0) the top-left corner. Drawing outside
// the image is clipped, never an error: figure code can lay out panels without bounds checks.
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace xg::vit::viz {

struct Rgb {
    uint8_t r = 0, g = 0, b = 0;
    bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kGray{150, 150, 150};
inline constexpr Rgb kLightGray{225, 225, 225};
// Matplotlib's first two default colours (tab:blue, tab:orange) and tab:green: readable on white
// and to most colour-blind readers.
inline constexpr Rgb kBlue{31, 119, 180};
inline constexpr Rgb kOrange{255, 127, 14};
inline constexpr Rgb kGreen{44, 160, 44};

class Image {
  public:
    Image() = default;
    Image(int64_t width, int64_t height, Rgb background = kWhite, SrcLoc loc = SrcLoc::current());

    int64_t width() const { return width_; }
    int64_t height() const { return height_; }
    // Row-major RGB bytes, 3 per pixel: what PNG encoders take.
    const std::vector<uint8_t>& bytes() const { return pixels_; }

    Rgb at(int64_t x, int64_t y) const;  // (x, y) must be inside
    void set(int64_t x, int64_t y, Rgb c);  // clipped
    // Mixes c into the pixel with weight alpha in [0, 1] (antialiasing and overlays).
    void blend(int64_t x, int64_t y, Rgb c, double alpha);
    void fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb c);
    void stroke_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb c);
    // An antialiased line (Xiaolin Wu's algorithm) from (x0, y0) to (x1, y1), in sub-pixel
    // coordinates; thickness > 1 draws parallel copies, enough for plot lines of 1-3 pixels.
    void draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
    // Text with its top-left corner at (x, y); scale multiplies the glyphs (1: about 6 x 7 pixels).
    void draw_text(int64_t x, int64_t y, const std::string& text, Rgb c, int scale = 1);
    // Text rotated by 90 degrees counter-clockwise (a y-axis label), read bottom to top, its
    // bounding box's top-left corner at (x, y).
    void draw_text_vertical(int64_t x, int64_t y, const std::string& text, Rgb c, int scale = 1);
    // Copies src with its top-left corner at (x, y).
    void paste(const Image& src, int64_t x, int64_t y);

  private:
    int64_t width_ = 0, height_ = 0;
    std::vector<uint8_t> pixels_;
};

// The size of draw_text's output, so figures can centre and right-align labels.
int64_t text_width(const std::string& text, int scale = 1);
int64_t text_height(int scale = 1);

// Viridis (matplotlib's default colour map), t in [0, 1] clamped: dark purple -> green -> yellow.
// Perceptually uniform, so equal steps of attention or similarity look like equal steps.
Rgb viridis(double t);

// Encodes img as an 8-bit RGB PNG (stb_image_write).
std::vector<uint8_t> encode_png(const Image& img, SrcLoc loc = SrcLoc::current());
// Writes encode_png(img) to path; an xg::Error names the path when it cannot be written.
void write_png(const Image& img, const std::string& path, SrcLoc loc = SrcLoc::current());

}  // namespace xg::vit::viz
