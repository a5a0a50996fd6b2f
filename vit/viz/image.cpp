// The raster behind every picture of vit/viz, and its PNG encoder.
#include "vit/viz/image.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>

// stb's single-file libraries: the implementation is compiled here, once, and kept static so it
// can never clash with another copy (Debian's libstb.so exports the same names).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

namespace xg::vit::viz {

Image::Image(int64_t width, int64_t height, Rgb background, SrcLoc loc) : width_(width), height_(height) {
    XG_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, loc,
             "viz::Image: size " << width << " x " << height << " is not in 1..16384");
    pixels_.resize(static_cast<size_t>(width * height * 3));
    for (size_t i = 0; i < pixels_.size(); i += 3) {
        pixels_[i] = background.r;
        pixels_[i + 1] = background.g;
        pixels_[i + 2] = background.b;
    }
}

Rgb Image::at(int64_t x, int64_t y) const {
    const size_t i = static_cast<size_t>((y * width_ + x) * 3);
    return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

void Image::set(int64_t x, int64_t y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    const size_t i = static_cast<size_t>((y * width_ + x) * 3);
    pixels_[i] = c.r;
    pixels_[i + 1] = c.g;
    pixels_[i + 2] = c.b;
}

void Image::blend(int64_t x, int64_t y, Rgb c, double alpha) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    alpha = std::clamp(alpha, 0.0, 1.0);
    const size_t i = static_cast<size_t>((y * width_ + x) * 3);
    auto mix = [alpha](uint8_t under, uint8_t over) {
        return static_cast<uint8_t>(std::lround(under * (1.0 - alpha) + over * alpha));
    };
    pixels_[i] = mix(pixels_[i], c.r);
    pixels_[i + 1] = mix(pixels_[i + 1], c.g);
    pixels_[i + 2] = mix(pixels_[i + 2], c.b);
}

void Image::fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb c) {
    const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
    const int64_t x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
    for (int64_t yy = y0; yy < y1; ++yy)
        for (int64_t xx = x0; xx < x1; ++xx) set(xx, yy, c);
}

void Image::stroke_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb c) {
    fill_rect(x, y, w, 1, c);
    fill_rect(x, y + h - 1, w, 1, c);
    fill_rect(x, y, 1, h, c);
    fill_rect(x + w - 1, y, 1, h, c);
}

// Xiaolin Wu: step along the major axis one pixel at a time; the line crosses the minor axis
// between two pixels, which share the ink in proportion to how close the line passes to each.
void Image::draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
    if (thickness > 1) {
        // Parallel copies offset across the line's direction.
        const double len = std::hypot(x1 - x0, y1 - y0);
        const double nx = len > 0 ? -(y1 - y0) / len : 0.0, ny = len > 0 ? (x1 - x0) / len : 1.0;
        for (int k = 0; k < thickness; ++k) {
            const double off = k - (thickness - 1) / 2.0;
            draw_line(x0 + nx * off, y0 + ny * off, x1 + nx * off, y1 + ny * off, c, 1);
        }
        return;
    }
    const bool steep = std::abs(y1 - y0) > std::abs(x1 - x0);
    if (steep) {
        std::swap(x0, y0);
        std::swap(x1, y1);
    }
    if (x0 > x1) {
        std::swap(x0, x1);
        std::swap(y0, y1);
    }
    auto plot = [&](int64_t major, int64_t minor, double alpha) {
        if (steep)
            blend(minor, major, c, alpha);
        else
            blend(major, minor, c, alpha);
    };
    const double dx = x1 - x0;
    const double gradient = dx == 0 ? 1.0 : (y1 - y0) / dx;
    const int64_t xstart = std::lround(x0), xend = std::lround(x1);
    double y = y0 + gradient * (static_cast<double>(xstart) - x0);
    for (int64_t x = xstart; x <= xend; ++x) {
        const double fl = std::floor(y);
        const double frac = y - fl;
        plot(x, static_cast<int64_t>(fl), 1.0 - frac);
        plot(x, static_cast<int64_t>(fl) + 1, frac);
        y += gradient;
    }
}

namespace {

// stb_easy_font draws each glyph as a few axis-aligned quads (4 vertices of x, y, z, colour).
struct Quad {
    float x0, y0, x1, y1;
};

std::vector<Quad> glyph_quads(const std::string& text) {
    std::vector<char> mutable_text(text.begin(), text.end());  // stb takes a char*
    mutable_text.push_back('\0');
    struct Vertex {
        float x, y, z;
        unsigned char color[4];
    };
    std::vector<Vertex> buffer(text.size() * 4 * 24 + 64);  // about 270 bytes a glyph, per stb's docs
    const int quads = stb_easy_font_print(0, 0, mutable_text.data(), nullptr, buffer.data(),
                                          static_cast<int>(buffer.size() * sizeof(Vertex)));
    std::vector<Quad> out;
    out.reserve(static_cast<size_t>(quads));
    for (int q = 0; q < quads; ++q) {
        const Vertex* v = &buffer[static_cast<size_t>(q) * 4];
        Quad r{v[0].x, v[0].y, v[0].x, v[0].y};
        for (int k = 1; k < 4; ++k) {
            r.x0 = std::min(r.x0, v[k].x);
            r.y0 = std::min(r.y0, v[k].y);
            r.x1 = std::max(r.x1, v[k].x);
            r.y1 = std::max(r.y1, v[k].y);
        }
        out.push_back(r);
    }
    return out;
}

}  // namespace

int64_t text_width(const std::string& text, int scale) {
    int64_t w = 0;
    for (const Quad& q : glyph_quads(text)) w = std::max<int64_t>(w, std::lround(q.x1));
    return w * scale;
}

// The glyphs' cap height is 7 units; descenders (g, p, y) reach 2 below it.
int64_t text_height(int scale) { return 9 * static_cast<int64_t>(scale); }

void Image::draw_text(int64_t x, int64_t y, const std::string& text, Rgb c, int scale) {
    for (const Quad& q : glyph_quads(text)) {
        const int64_t qx = std::lround(q.x0), qy = std::lround(q.y0);
        const int64_t qw = std::lround(q.x1) - qx, qh = std::lround(q.y1) - qy;
        fill_rect(x + qx * scale, y + qy * scale, qw * scale, qh * scale, c);
    }
}

void Image::draw_text_vertical(int64_t x, int64_t y, const std::string& text, Rgb c, int scale) {
    const int64_t w = text_width(text, scale), h = text_height(scale);
    if (w <= 0) return;
    // Draw horizontally on a scratch image, then copy it rotated: (tx, ty) -> (ty, w - 1 - tx).
    Image scratch(w, h, kWhite);
    scratch.draw_text(0, 0, text, kBlack, scale);
    for (int64_t ty = 0; ty < h; ++ty)
        for (int64_t tx = 0; tx < w; ++tx)
            if (scratch.at(tx, ty) == kBlack) set(x + ty, y + (w - 1 - tx), c);
}

void Image::paste(const Image& src, int64_t x, int64_t y) {
    for (int64_t sy = 0; sy < src.height(); ++sy)
        for (int64_t sx = 0; sx < src.width(); ++sx) set(x + sx, y + sy, src.at(sx, sy));
}

Rgb viridis(double t) {
    // Matplotlib's viridis sampled at t = 0, 1/8, ..., 1; linear in between (the map itself is
    // smooth enough that 9 stops are indistinguishable from its 256-entry table).
    static constexpr std::array<Rgb, 9> stops = {{{0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b},
                                                  {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c}, {0x28, 0xae, 0x80},
                                                  {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25}}};
    if (!std::isfinite(t)) t = 0;
    t = std::clamp(t, 0.0, 1.0) * (stops.size() - 1);
    const size_t i = std::min(static_cast<size_t>(t), stops.size() - 2);
    const double f = t - static_cast<double>(i);
    auto lerp = [f](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
    return {lerp(stops[i].r, stops[i + 1].r), lerp(stops[i].g, stops[i + 1].g), lerp(stops[i].b, stops[i + 1].b)};
}

std::vector<uint8_t> encode_png(const Image& img, SrcLoc loc) {
    XG_CHECK(img.width() > 0 && img.height() > 0, loc, "viz::encode_png: the image is empty");
    std::vector<uint8_t> out;
    auto append = [](void* context, void* data, int size) {
        auto* bytes = static_cast<std::vector<uint8_t>*>(context);
        const auto* p = static_cast<const uint8_t*>(data);
        bytes->insert(bytes->end(), p, p + size);
    };
    const int ok = stbi_write_png_to_func(append, &out, static_cast<int>(img.width()), static_cast<int>(img.height()),
                                          3, img.bytes().data(), static_cast<int>(img.width() * 3));
    XG_CHECK(ok != 0 && !out.empty(), loc,
             "viz::encode_png: stb_image_write failed on a " << img.width() << " x " << img.height() << " image");
    return out;
}

void write_png(const Image& img, const std::string& path, SrcLoc loc) {
    const std::vector<uint8_t> png = encode_png(img, loc);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    XG_CHECK(f.good(), loc, "viz::write_png: cannot open " << path << " for writing");
    f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    f.close();
    XG_CHECK(f.good(), loc, "viz::write_png: writing " << png.size() << " bytes to " << path << " failed");
}

}  // namespace xg::vit::viz
