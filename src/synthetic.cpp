// Synthetic data: class patterns drawn once from the seed, samples drawn
// from a random stream per (seed, split, index).
#include "pipar/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "pipar/partition.hpp"

namespace pipar {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kGratings = 2;
// Spatial frequency of a grating, in cycles across the image width.
constexpr double kMinFrequency = 1.0;
constexpr double kMaxFrequency = 3.0;
// Grey levels, out of 0..255, around the mid-grey of 128.
constexpr double kPatternAmplitude = 70.0;  // of a pattern at full contrast
constexpr double kMinContrast = 0.6;
constexpr int kMaxBrightnessOffset = 25;    // per sample and channel
constexpr int kNoiseHalfWidth = 20;         // of each of the 4 uniform terms of a pixel's noise
constexpr double kMidGrey = 128.0;

// Stream tags, so that patterns and each split's samples use unrelated seeds.
constexpr std::uint64_t kPatternStream = 0x5A7;
constexpr std::uint64_t kTrainStream = 0x7A1;
constexpr std::uint64_t kTestStream = 0x7E5;

// SplitMix64: a small generator whose output depends only on the seed,
// unlike the std:: distributions, whose algorithms the standard leaves to
// the library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [low, high).
  double uniform(double low, double high) {
    return low + (high - low) * static_cast<double>(next() >> 11) * 0x1.0p-53;
  }

  // Uniform in 0..count-1; the modulo bias is below count / 2^64.
  std::uint64_t below(std::uint64_t count) { return next() % count; }

 private:
  std::uint64_t state_;
};

// One class pattern on a canvas kSyntheticMaxShift pixels larger than the
// image on every side, so that a shifted crop never leaves it. Values are in
// [-1, 1], stored (channel, canvas row, canvas column).
struct Pattern {
  std::int64_t canvas_rows = 0;
  std::int64_t canvas_cols = 0;
  std::vector<float> values;
};

Pattern draw_pattern(const SyntheticConfig& config, std::uint64_t seed, int label) {
  SplitMix64 random(mix_seed(seed, kPatternStream, static_cast<std::uint64_t>(label)));
  Pattern pattern;
  pattern.canvas_rows = config.rows + 2 * kSyntheticMaxShift;
  pattern.canvas_cols = config.cols + 2 * kSyntheticMaxShift;
  pattern.values.assign(
      static_cast<std::size_t>(config.channels * pattern.canvas_rows * pattern.canvas_cols), 0.0f);

  for (int grating = 0; grating < kGratings; ++grating) {
    const double angle = random.uniform(0.0, kPi);
    const double frequency = random.uniform(kMinFrequency, kMaxFrequency);
    const double phase = random.uniform(0.0, 2.0 * kPi);
    // Radians per pixel along the grating's direction.
    const double step = 2.0 * kPi * frequency / static_cast<double>(config.cols);
    std::vector<double> weights(static_cast<std::size_t>(config.channels));
    for (double& weight : weights) weight = random.uniform(-1.0, 1.0);
    if (config.channels == 1) weights[0] = weights[0] < 0.0 ? -1.0 : 1.0;

    std::size_t index = 0;
    for (std::int64_t channel = 0; channel < config.channels; ++channel) {
      const double weight = weights[static_cast<std::size_t>(channel)] / kGratings;
      for (std::int64_t row = 0; row < pattern.canvas_rows; ++row) {
        for (std::int64_t col = 0; col < pattern.canvas_cols; ++col) {
          // The grating plus its mirror image about the canvas's middle
          // column, so that a flipped sample is another sample of its class.
          const auto mirrored_col = pattern.canvas_cols - 1 - col;
          const double position = static_cast<double>(col) * std::cos(angle) +
                                  static_cast<double>(row) * std::sin(angle);
          const double mirrored = static_cast<double>(mirrored_col) * std::cos(angle) +
                                  static_cast<double>(row) * std::sin(angle);
          const double value =
              0.5 * (std::sin(step * position + phase) + std::sin(step * mirrored + phase));
          pattern.values[index++] += static_cast<float>(weight * value);
        }
      }
    }
  }
  return pattern;
}

// Returns the sum of four uniform integers in [-kNoiseHalfWidth,
// kNoiseHalfWidth], close to a normal distribution with a standard
// deviation of about 1.15 * kNoiseHalfWidth, from one 64-bit draw. Each
// term maps 16 random bits to 0..2*kNoiseHalfWidth by multiplying and
// shifting, which is faster than a modulo and about as uniform.
int pixel_noise(SplitMix64& random) {
  constexpr std::uint64_t kValues = 2 * kNoiseHalfWidth + 1;
  const std::uint64_t bits = random.next();
  int sum = 0;
  for (int term = 0; term < 4; ++term) {
    const std::uint64_t part = (bits >> (16 * term)) & 0xFFFF;
    sum += static_cast<int>((part * kValues) >> 16) - kNoiseHalfWidth;
  }
  return sum;
}

// Writes sample `index` of `split` into `pixels` and returns its label.
std::uint8_t draw_sample(const SyntheticConfig& config, const std::vector<Pattern>& patterns,
                         std::uint64_t seed, std::uint64_t stream, std::int64_t index,
                         std::uint8_t* pixels) {
  SplitMix64 random(mix_seed(seed, stream, static_cast<std::uint64_t>(index)));
  const auto label = static_cast<int>(random.below(static_cast<std::uint64_t>(config.classes)));
  const Pattern& pattern = patterns[static_cast<std::size_t>(label)];
  const auto top = static_cast<std::int64_t>(random.below(2 * kSyntheticMaxShift + 1));
  const auto left = static_cast<std::int64_t>(random.below(2 * kSyntheticMaxShift + 1));
  const double amplitude = kPatternAmplitude * random.uniform(kMinContrast, 1.0);

  for (std::int64_t channel = 0; channel < config.channels; ++channel) {
    const auto brightness =
        static_cast<int>(random.below(2 * kMaxBrightnessOffset + 1)) - kMaxBrightnessOffset;
    const float* plane = pattern.values.data() + channel * pattern.canvas_rows * pattern.canvas_cols;
    for (std::int64_t row = 0; row < config.rows; ++row) {
      const float* source = plane + (row + top) * pattern.canvas_cols + left;
      for (std::int64_t col = 0; col < config.cols; ++col) {
        const double value = kMidGrey + brightness + amplitude * source[col] + pixel_noise(random);
        // Rounds half up; the clamp leaves no negative value to round.
        *pixels++ = static_cast<std::uint8_t>(std::clamp(value, 0.0, 255.0) + 0.5);
      }
    }
  }
  return static_cast<std::uint8_t>(label);
}

}  // namespace

ImageSet generate_synthetic(const SyntheticConfig& config, std::uint64_t seed,
                            SyntheticSplit split) {
  if (config.channels < 1 || config.rows < 1 || config.cols < 1 || config.count < 1 ||
      config.classes < 1 || config.classes > 256) {
    throw std::invalid_argument(
        "generate_synthetic: channels, rows, cols and count must be positive and classes 1 to "
        "256, got " + std::to_string(config.channels) + "x" + std::to_string(config.rows) + "x" +
        std::to_string(config.cols) + ", count " + std::to_string(config.count) + ", classes " +
        std::to_string(config.classes));
  }
  std::vector<Pattern> patterns;
  for (int label = 0; label < config.classes; ++label) {
    patterns.push_back(draw_pattern(config, seed, label));
  }

  ImageSet images;
  images.count = config.count;
  images.channels = config.channels;
  images.rows = config.rows;
  images.cols = config.cols;
  images.pixels.resize(static_cast<std::size_t>(config.count * images.image_bytes()));
  images.labels.resize(static_cast<std::size_t>(config.count));
  const std::uint64_t stream = split == SyntheticSplit::kTrain ? kTrainStream : kTestStream;
  for (std::int64_t i = 0; i < config.count; ++i) {
    images.labels[static_cast<std::size_t>(i)] =
        draw_sample(config, patterns, seed, stream, i,
                    images.pixels.data() + i * images.image_bytes());
  }
  return images;
}

}  // namespace pipar
