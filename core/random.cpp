// Random tensors: manual_seed randn rand randint bernoulli randn_like rand_like randperm;
// get_rng_state / set_rng_state save and restore the generator (checkpoints).
//
// Every draw comes from one global generator that reproduces PyTorch's CPU generator bit for
// bit, so `xg::manual_seed(0); xg::randn({2, 3})` prints exactly what
// `torch.manual_seed(0); torch.randn(2, 3)` prints. That takes four facts about PyTorch 1.13:
//
//  1. The engine is the standard 32-bit Mersenne Twister (std::mt19937; ours below also draws
//     in bulk), seeded with the low 32 bits of the seed. A 64-bit draw is two 32-bit draws, the
//     first one the high half.
//  2. A uniform float in [0, 1) is the low 24 bits of a 32-bit draw divided by 2^24; a uniform
//     double is the low 53 bits of a 64-bit draw divided by 2^53 (24 and 53 are the mantissa
//     sizes, so every value is exactly representable).
//  3. Normals come from the Box-Muller transform, in two ways:
//     - tensors of fewer than 16 elements draw one normal at a time in double precision; each
//       Box-Muller pair yields two normals and the second one is cached in the generator for
//       the next draw (manual_seed clears the cache);
//     - contiguous tensors of 16 or more elements first fill the tensor with uniforms, then
//       turn every block of 16 into 16 normals (u1 from the first 8, u2 from the last 8). When
//       the size is not a multiple of 16 the last 16 elements are redrawn and redone. For
//       float32 PyTorch does this with 8-lane AVX2 code whose log/sin/cos are the Cephes
//       polynomials of "avx_mathfun", with the compiler fusing multiply-adds; we evaluate the
//       same polynomials, one lane at a time, with the same fused operations.
//  4. randint is `draw % range + low` (a 64-bit draw when range >= 2^32), randperm is a
//     Fisher-Yates shuffle with `draw % (n - i)`, bernoulli is `uniform < p`.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <numbers>
#include <optional>
#include <vector>

#include "core/ops.h"
#include "core/parallel.h"

namespace xg {

namespace {

// ---- the generator ----------------------------------------------------------------------

// The 32-bit Mersenne Twister, number for number the same as std::mt19937, with one addition:
// fill(), which draws many numbers at once. std::mt19937 hands out one number per call (a
// branch, a load and the tempering, ~1.9 ns each); filling a buffer lets the compiler run the
// tempering over 8 numbers per instruction (~0.4 ns each). Dropout draws two numbers per
// element of every activation it masks, so this is a tenth of a ViT training step.
class MersenneTwister {
  public:
    static constexpr int kWords = 624;  // the state: 624 words of 32 bits
    static constexpr int kShift = 397;

    void seed(uint32_t s) {  // std::mt19937::seed
        x_[0] = s;
        for (int i = 1; i < kWords; ++i) x_[i] = 1812433253u * (x_[i - 1] ^ (x_[i - 1] >> 30)) + static_cast<uint32_t>(i);
        pos_ = kWords;
    }

    uint32_t operator()() {
        if (pos_ >= kWords) twist();
        return temper(x_[pos_++]);
    }

    // out[0..n) = the next n numbers, exactly as n calls of operator() would give them.
    void fill(uint32_t* out, int64_t n) {
        while (n > 0) {
            if (pos_ >= kWords) twist();
            const int64_t take = std::min<int64_t>(n, kWords - pos_);
            const uint32_t* src = x_ + pos_;
            for (int64_t i = 0; i < take; ++i) out[i] = temper(src[i]);
            out += take;
            n -= take;
            pos_ += static_cast<int>(take);
        }
    }

    // The next numbers before tempering, for a caller that tempers only some of them:
    // temper(raw[i]) is the i-th next number, for i < count = min(max, what is left of this block
    // of 624, at least 1). Nothing is consumed until discard(count).
    const uint32_t* peek(int64_t max, int64_t& count) {
        if (pos_ >= kWords) twist();
        count = std::min<int64_t>(max, kWords - pos_);
        return x_ + pos_;
    }

    // Moves on by n numbers without tempering them: what drawing them would leave behind.
    void discard(int64_t n) {
        while (n > 0) {
            if (pos_ >= kWords) twist();
            const int64_t take = std::min<int64_t>(n, kWords - pos_);
            pos_ += static_cast<int>(take);
            n -= take;
        }
    }

    static uint32_t temper(uint32_t y) {
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        return y ^ (y >> 18);
    }

    // The state as libstdc++'s operator<< writes std::mt19937's: the 624 words, then the
    // position in them (so saved states are the same as before this class replaced it).
    std::vector<uint64_t> words() const {
        std::vector<uint64_t> w(x_, x_ + kWords);
        w.push_back(static_cast<uint64_t>(pos_));
        return w;
    }
    void set_words(const std::vector<uint64_t>& w) {  // 625 values, each < 2^32
        for (int i = 0; i < kWords; ++i) x_[i] = static_cast<uint32_t>(w[static_cast<size_t>(i)]);
        pos_ = static_cast<int>(std::min<uint64_t>(w[kWords], kWords));  // past the end: twist next
    }

  private:
    static uint32_t mix(uint32_t upper, uint32_t lower, uint32_t far) {
        const uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
        return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    // The next 624 words from the last 624 (the three loops of libstdc++'s _M_gen_rand).
    void twist() {
        for (int k = 0; k < kWords - kShift; ++k) x_[k] = mix(x_[k], x_[k + 1], x_[k + kShift]);
        for (int k = kWords - kShift; k < kWords - 1; ++k) x_[k] = mix(x_[k], x_[k + 1], x_[k + kShift - kWords]);
        x_[kWords - 1] = mix(x_[kWords - 1], x_[0], x_[kShift - 1]);
        pos_ = 0;
    }

    uint32_t x_[kWords] = {};
    int pos_ = kWords;
};

class Generator {
  public:
    // PyTorch's default seed, so an unseeded program also draws PyTorch's numbers.
    static constexpr uint64_t kDefaultSeed = 67280421310721ULL;

    Generator() { seed(kDefaultSeed); }

    void seed(uint64_t s) {
        engine_.seed(static_cast<uint32_t>(s & 0xFFFFFFFFULL));
        cached_normal_.reset();
    }

    uint32_t random() { return engine_(); }
    uint64_t random64() {
        uint64_t hi = random();
        uint64_t lo = random();
        return (hi << 32) | lo;
    }

    // Uniform in [0, 1), built from as many random bits as T has mantissa bits.
    template <class T> T uniform() {
        constexpr int digits = std::numeric_limits<T>::digits;  // 24 for float, 53 for double
        constexpr uint64_t mask = (uint64_t{1} << digits) - 1;
        constexpr T scale = T(1) / static_cast<T>(uint64_t{1} << digits);
        uint64_t bits = digits <= 32 ? random() : random64();
        return static_cast<T>(bits & mask) * scale;
    }

    // out[i] = uniform<T>() for i < n, drawn in bulk (the same numbers, in the same order).
    template <class T> void fill_uniform(T* out, int64_t n) {
        constexpr int digits = std::numeric_limits<T>::digits;
        constexpr uint64_t mask = (uint64_t{1} << digits) - 1;
        constexpr T scale = T(1) / static_cast<T>(uint64_t{1} << digits);
        constexpr int64_t per = digits <= 32 ? 1 : 2;  // 32-bit draws per value
        uint32_t draws[kChunk];
        for (int64_t i0 = 0; i0 < n; i0 += kChunk / per) {
            const int64_t m = std::min(kChunk / per, n - i0);
            engine_.fill(draws, m * per);
            for (int64_t i = 0; i < m; ++i) {
                const uint64_t bits = per == 1 ? draws[i] : (uint64_t{draws[2 * i]} << 32) | draws[2 * i + 1];
                out[i0 + i] = static_cast<T>(bits & mask) * scale;
            }
        }
    }

    // out[i] = uniform<double>() < p ? 1 : 0 for i < n (PyTorch's bernoulli_(p) with a scalar p),
    // in bulk. A uniform double is bits * 2^-53, bits = (hi << 32 | lo) & (2^53 - 1) from two
    // draws, and that is < p exactly when bits < threshold = ceil(p * 2^53) (multiplying by 2^53
    // is exact), so the test runs on integers.
    //
    // On several threads: the engine's twist (the next 624 words from the last 624) is the only
    // sequential part, and it is a third of the work. So each thread copies the engine, twists
    // through the words of the elements before its share without tempering them (discard), and
    // draws its share; the generator then takes the state of the thread that drew the last
    // element. Every element gets the draws it gets on one thread: the same mask on any thread
    // count. (3.3M elements: 1.59 ms on one thread, 1.37 on two: less than the 1.1 the split of
    // the work promises, the rest of the second core's time going to the repeated twist and the
    // team's start.)
    template <class T> void fill_bernoulli(T* out, int64_t n, double p) {
        const auto threshold = static_cast<uint64_t>(std::ceil(p * 9007199254740992.0));  // p * 2^53 <= 2^53
        const int threads = n >= kSplitBernoulliAt ? parallel::threads_for(16.0 * static_cast<double>(n)) : 1;
        if (threads <= 1) return bernoulli_run(engine_, out, n, threshold);
        std::vector<MersenneTwister> engines(static_cast<size_t>(threads), engine_);
        int last = 0;  // the thread whose share ends at n
        parallel::run_team(threads, [&](int tid, int team) {
            int64_t begin = 0, end = 0;
            parallel::split(n, tid, team, begin, end);
            MersenneTwister& engine = engines[static_cast<size_t>(tid)];
            engine.discard(2 * begin);
            bernoulli_run(engine, out + begin, end - begin, threshold);
            if (tid == team - 1) last = tid;
        });
        engine_ = engines[static_cast<size_t>(last)];
    }

    // One standard normal in double precision (PyTorch's scalar path, with its cache).
    double normal() {
        if (cached_normal_) {
            double v = *cached_normal_;
            cached_normal_.reset();
            return v;
        }
        double u1 = uniform<double>();
        double u2 = uniform<double>();
        double radius = std::sqrt(-2.0 * std::log(1.0 - u2));
        double theta = 2.0 * std::numbers::pi * u1;
        cached_normal_ = radius * std::sin(theta);
        return radius * std::cos(theta);
    }

    // The whole state as integers: the engine's words as its operator<< writes them (the 624
    // words of the Mersenne Twister, and with libstdc++ the position in them), then whether a
    // normal is cached, then the cached normal's bits.
    std::vector<int64_t> state() const {
        std::vector<int64_t> words;
        for (uint64_t w : engine_.words()) words.push_back(static_cast<int64_t>(w));
        words.push_back(cached_normal_ ? 1 : 0);
        words.push_back(cached_normal_ ? std::bit_cast<int64_t>(*cached_normal_) : 0);
        return words;
    }

    // Restores state(); the caller has checked the size and the ranges. False if the engine
    // refuses the words.
    bool set_state(const std::vector<int64_t>& words) {
        if (words.size() != MersenneTwister::kWords + 3) return false;
        std::vector<uint64_t> engine_words;
        for (size_t i = 0; i + 2 < words.size(); ++i) {
            if (words[i] < 0 || words[i] > int64_t{0xFFFFFFFF}) return false;
            engine_words.push_back(static_cast<uint64_t>(words[i]));
        }
        engine_.set_words(engine_words);
        const int64_t has_cached = words[words.size() - 2], cached_bits = words.back();
        if (has_cached) {
            cached_normal_ = std::bit_cast<double>(cached_bits);
        } else {
            cached_normal_.reset();
        }
        return true;
    }

    std::mutex& mutex() { return mutex_; }

  private:
    static constexpr int64_t kSplitBernoulliAt = int64_t{1} << 16;  // elements: below, one thread

    // fill_bernoulli's draws of n elements from `engine`. The high part of bits decides the test
    // unless the 21 bits of hi that count equal threshold's (once in 2^21 elements): only then is
    // lo needed. So lo is not tempered, a third less work per element.
    template <class T> static void bernoulli_run(MersenneTwister& engine, T* out, int64_t n, uint64_t threshold) {
        const auto thr_hi = static_cast<uint32_t>(threshold >> 32), thr_lo = static_cast<uint32_t>(threshold);
        constexpr uint32_t kHiBits = (1u << 21) - 1;  // 53 - 32 bits of hi count
        for (int64_t i = 0; i < n;) {
            int64_t count = 0;
            const uint32_t* raw = engine.peek(2 * (n - i), count);
            if (count == 1) {  // the pair straddles two blocks of the engine
                const uint32_t hi = engine() & kHiBits, lo = engine();
                out[i++] = hi < thr_hi || (hi == thr_hi && lo < thr_lo) ? T(1) : T(0);
                continue;
            }
            const int64_t m = count / 2;  // pairs (hi, lo) in this block
            T* o = out + i;
            uint32_t tie = 0;  // (a bool here keeps the compiler from vectorizing the loop)
            for (int64_t j = 0; j < m; ++j) {  // vectorized: 8 pairs per step
                const uint32_t hi = MersenneTwister::temper(raw[2 * j]) & kHiBits;
                o[j] = hi < thr_hi ? T(1) : T(0);
                tie |= hi == thr_hi ? 1u : 0u;
            }
            if (tie)  // the rare elements decided by lo
                for (int64_t j = 0; j < m; ++j)
                    if ((MersenneTwister::temper(raw[2 * j]) & kHiBits) == thr_hi)
                        o[j] = MersenneTwister::temper(raw[2 * j + 1]) < thr_lo ? T(1) : T(0);
            engine.discard(2 * m);
            i += m;
        }
    }

    static constexpr int64_t kChunk = 1024;  // draws per bulk fill: 4 KB on the stack
    MersenneTwister engine_;
    std::optional<double> cached_normal_;
    std::mutex mutex_;
};

Generator& global_generator() {
    static Generator gen;
    return gen;
}

// ---- float32 Box-Muller as PyTorch's AVX2 kernel computes it ------------------------------

float fused(float a, float b, float c) { return std::fma(a, b, c); }  // a * b + c, one rounding

float float_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// Natural log for x in (0, 1]: split x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then a
// degree-9 polynomial in (m - 1) (Cephes logf).
float cephes_log(float x) {
    x = std::max(x, std::numeric_limits<float>::min());                    // no denormals
    int32_t exponent = static_cast<int32_t>(bits_of(x) >> 23) - 0x7f;
    x = float_from_bits((bits_of(x) & ~0x7f800000U) | bits_of(0.5f));    // mantissa in [0.5, 1)
    float e = static_cast<float>(exponent) + 1.0f;
    // Keep m near 1, where the polynomial is accurate: below sqrt(1/2), use 2m and e - 1.
    bool small = x < 0.707106781186547524f;
    float m_extra = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + m_extra;

    float z = x * x;
    float y = 7.0376836292e-2f;
    for (float c : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                    -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
        y = fused(y, x, c);
    y = y * x;
    y = fused(y, z, e * -2.12194440e-4f);   // ln 2 is split in two parts (q1 + q2) for accuracy
    y = fused(-z, 0.5f, y);
    x = x + y;
    return fused(e, 0.693359375f, x);
}

// sin and cos of theta in [0, 2*pi): reduce to [-pi/4, pi/4] by octant j, then a polynomial
// for sin or for cos depending on the octant, and a sign flip by octant (Cephes sinf/cosf).
void cephes_sincos(float theta, float& sin_out, float& cos_out) {
    bool negative = std::signbit(theta);
    float x = std::fabs(theta);
    int32_t j = static_cast<int32_t>(x * 1.27323954473516f);  // x * 4/pi, truncated
    j = (j + 1) & ~1;                                        // round up to an even octant
    float y = static_cast<float>(j);
    // x - j*pi/4 with pi/4 split in three parts so the subtraction loses no accuracy.
    x = fused(y, -0.78515625f, x);
    x = fused(y, -2.4187564849853515625e-4f, x);
    x = fused(y, -3.77489497744594108e-8f, x);

    float z = x * x;
    float cos_poly = 2.443315711809948e-5f;
    cos_poly = fused(cos_poly, z, -1.388731625493765e-3f);
    cos_poly = fused(cos_poly, z, 4.166664568298827e-2f);
    cos_poly = cos_poly * z;
    cos_poly = fused(cos_poly, z, -(z * 0.5f));
    cos_poly = cos_poly + 1.0f;
    float sin_poly = -1.9515295891e-4f;
    sin_poly = fused(sin_poly, z, 8.3321608736e-3f);
    sin_poly = fused(sin_poly, z, -1.6666654611e-1f);
    sin_poly = sin_poly * z;
    sin_poly = fused(sin_poly, x, x);

    bool swap_polys = (j & 2) != 0;
    float s = swap_polys ? cos_poly : sin_poly;
    float c = swap_polys ? sin_poly : cos_poly;
    bool sin_negative = negative != ((j & 4) != 0);
    bool cos_negative = ((j - 2) & 4) == 0;
    sin_out = sin_negative ? -s : s;
    cos_out = cos_negative ? -c : c;
}

// data[0..16) holds uniforms; turn them into 16 standard normals in place.
void box_muller_16(float* data) {
    const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
    for (int j = 0; j < 8; ++j) {
        float u1 = 1.0f - data[j];  // (0, 1], safe for log
        float u2 = data[j + 8];
        float radius = std::sqrt(-2.0f * cephes_log(u1));
        float s, c;
        cephes_sincos(two_pi * u2, s, c);
        data[j] = radius * c;
        data[j + 8] = radius * s;
    }
}

void box_muller_16(double* data) {
    for (int j = 0; j < 8; ++j) {
        double u1 = 1.0 - data[j];
        double u2 = data[j + 8];
        double radius = std::sqrt(-2.0 * std::log(u1));
        double theta = 2.0 * std::numbers::pi * u2;
        data[j] = radius * std::cos(theta);
        data[j + 8] = radius * std::sin(theta);
    }
}

// PyTorch's path for 16 or more elements: all uniforms first, then blocks of 16.
template <class T> void fill_normal_blocks(Generator& gen, T* data, int64_t n) {
    for (int64_t i = 0; i < n; ++i) data[i] = gen.uniform<T>();
    for (int64_t i = 0; i + 16 <= n; i += 16) box_muller_16(data + i);
    if (n % 16 != 0) {
        T* tail = data + n - 16;  // overlaps the last full block: redraw and redo it
        for (int i = 0; i < 16; ++i) tail[i] = gen.uniform<T>();
        box_muller_16(tail);
    }
}

// ---- helpers ------------------------------------------------------------------------------

Tensor finish(Tensor t, const TensorOptions& o) {
    if (o.requires_grad_) t.requires_grad_(true);
    return t;
}

void check_shape(const char* op, const Shape& shape, const SrcLoc& loc) {
    for (int64_t s : shape)
        XG_CHECK(s >= 0, loc, op << ": negative dimension " << s << " in shape " << shape);
}

void check_floating(const char* op, DType dtype, const SrcLoc& loc) {
    XG_CHECK(is_floating(dtype), loc,
             op << ": needs a floating dtype (float32 or float64), got " << dtype_name(dtype));
}

}  // namespace

// ---- public API -------------------------------------------------------------------------

void manual_seed(uint64_t seed) {
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    gen.seed(seed);
}

Tensor get_rng_state() {
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    std::vector<int64_t> words = gen.state();
    const auto n = static_cast<int64_t>(words.size());
    return tensor(words, Shape{n});
}

// The state is untrusted (it comes from a checkpoint file): its length must be what this build's
// generator writes, each engine word an unsigned 32-bit value, the cache flag 0 or 1.
void set_rng_state(const Tensor& state, SrcLoc loc) {
    XG_CHECK(state.defined(), loc, "set_rng_state: the state tensor is undefined");
    XG_CHECK(state.dtype() == kInt64 && state.dim() == 1, loc,
             "set_rng_state: expects a 1-D int64 tensor (from get_rng_state()), got " << dtype_name(state.dtype())
                                                                                      << " of shape " << state.shape());
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    const std::vector<int64_t> current = gen.state();
    std::vector<int64_t> words = state.to_vector<int64_t>(loc);
    XG_CHECK(words.size() == current.size(), loc,
             "set_rng_state: expects " << current.size() << " values (from get_rng_state()), got " << words.size());
    for (size_t i = 0; i + 2 < words.size(); ++i)
        XG_CHECK(words[i] >= 0 && words[i] <= int64_t{0xFFFFFFFF}, loc,
                 "set_rng_state: value " << words[i] << " at index " << i << " is not a 32-bit generator word");
    const int64_t has_cached = words[words.size() - 2];
    XG_CHECK(has_cached == 0 || has_cached == 1, loc,
             "set_rng_state: the cached-normal flag at index " << words.size() - 2 << " must be 0 or 1, got " << has_cached);
    XG_CHECK(gen.set_state(words), loc, "set_rng_state: the generator rejected the state (corrupt values)");
}

Tensor randn(const Shape& shape, TensorOptions options) {
    const SrcLoc loc = SrcLoc::current();
    check_shape("randn", shape, loc);
    check_floating("randn", options.dtype_, loc);
    Tensor t = detail::make_empty(shape, options.dtype_);
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH_FLOAT(t.dtype(), T, [&] {
        T* data = t.data_ptr<T>();
        int64_t n = t.numel();
        if (n >= 16) {
            fill_normal_blocks(gen, data, n);
        } else {
            for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(gen.normal());
        }
    });
    return finish(t, options);
}

Tensor rand(const Shape& shape, TensorOptions options) {
    const SrcLoc loc = SrcLoc::current();
    check_shape("rand", shape, loc);
    check_floating("rand", options.dtype_, loc);
    Tensor t = detail::make_empty(shape, options.dtype_);
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH_FLOAT(t.dtype(), T, [&] {
        T* data = t.data_ptr<T>();
        gen.fill_uniform<T>(data, t.numel());
    });
    return finish(t, options);
}

Tensor randint(int64_t high, const Shape& shape, TensorOptions options) {
    return randint(0, high, shape, options, SrcLoc::current());
}

// Uniform integers in [low, high). The modulo has a bias of at most range / 2^32, which
// PyTorch accepts; we keep it to draw the same numbers.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options, SrcLoc loc) {
    XG_CHECK(high > low, loc, "randint: expects high > low, got low " << low << " and high " << high);
    check_shape("randint", shape, loc);
    XG_CHECK(!(options.requires_grad_ && options.dtype_ == kInt64), loc,
             "randint: only floating tensors can require gradients, not " << dtype_name(options.dtype_));
    const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
    Tensor t = detail::make_empty(shape, options.dtype_);
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH(t.dtype(), T, [&] {
        T* data = t.data_ptr<T>();
        const int64_t n = t.numel();
        for (int64_t i = 0; i < n; ++i) {
            uint64_t draw = range >= (uint64_t{1} << 32) ? gen.random64() : gen.random();
            data[i] = static_cast<T>(static_cast<int64_t>(draw % range + static_cast<uint64_t>(low)));
        }
    });
    return finish(t, options);
}

// One draw per element: 1 with probability p, else 0. The output has p's dtype and shape;
// the uniform has p's precision (a float32 p compares with a float32 uniform), as in PyTorch.
Tensor bernoulli(const Tensor& probabilities, SrcLoc loc) {
    XG_CHECK(probabilities.defined(), loc, "bernoulli: the probability tensor is undefined");
    check_floating("bernoulli", probabilities.dtype(), loc);
    Tensor p = probabilities.contiguous(loc);
    Tensor out = detail::make_empty(p.shape(), p.dtype());
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH_FLOAT(p.dtype(), T, [&] {
        const T* prob = p.data_ptr<T>();
        T* data = out.data_ptr<T>();
        const int64_t n = p.numel();
        for (int64_t i = 0; i < n; ++i) {
            XG_CHECK(prob[i] >= 0 && prob[i] <= 1, loc,
                     "bernoulli: expects all probabilities in [0, 1], got " << prob[i] << " at flat index " << i);
            data[i] = gen.uniform<T>() < prob[i] ? T(1) : T(0);
        }
    });
    return out;
}

// torch.empty(shape).bernoulli_(p): the scalar p is a double, so each draw is a double uniform.
Tensor bernoulli(const Shape& shape, double p, TensorOptions options, SrcLoc loc) {
    XG_CHECK(p >= 0 && p <= 1, loc, "bernoulli: expects 0 <= p <= 1, got p = " << p);
    check_shape("bernoulli", shape, loc);
    XG_CHECK(!(options.requires_grad_ && options.dtype_ == kInt64), loc,
             "bernoulli: only floating tensors can require gradients, not " << dtype_name(options.dtype_));
    Tensor t = detail::make_empty(shape, options.dtype_);
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH(t.dtype(), T, [&] {
        T* data = t.data_ptr<T>();
        gen.fill_bernoulli<T>(data, t.numel(), p);
    });
    return finish(t, options);
}

void detail::bernoulli_bytes(uint8_t* out, int64_t n, double p) {
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    gen.fill_bernoulli<uint8_t>(out, n, p);
}

Tensor randn_like(const Tensor& t) {
    XG_CHECK(t.defined(), SrcLoc::current(), "randn_like: the tensor is undefined");
    return randn(t.shape(), dtype(t.dtype()));
}

Tensor rand_like(const Tensor& t) {
    XG_CHECK(t.defined(), SrcLoc::current(), "rand_like: the tensor is undefined");
    return rand(t.shape(), dtype(t.dtype()));
}

// A random permutation of 0..n-1: Fisher-Yates, swapping position i with a random later one.
Tensor randperm(int64_t n, TensorOptions options) {
    const SrcLoc loc = SrcLoc::current();
    XG_CHECK(n >= 0, loc, "randperm: n must be non-negative, got " << n);
    XG_CHECK(!(options.requires_grad_ && options.dtype_ == kInt64), loc,
             "randperm: only floating tensors can require gradients, not " << dtype_name(options.dtype_));
    Tensor t = detail::make_empty({n}, options.dtype_);
    Generator& gen = global_generator();
    std::lock_guard lock(gen.mutex());
    XG_DISPATCH(t.dtype(), T, [&] {
        T* data = t.data_ptr<T>();
        for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(i);
        for (int64_t i = 0; i + 1 < n; ++i) {
            int64_t z = static_cast<int64_t>(gen.random() % static_cast<uint64_t>(n - i));
            std::swap(data[i], data[i + z]);
        }
    });
    return finish(t, options);
}

}  // namespace xg
