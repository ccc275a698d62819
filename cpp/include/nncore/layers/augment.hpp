#pragma once
// Keras's random image augmentation layers on channels-last images (batch, height, width, channels): each draws its
// own random values per image in training (fit) and is the identity otherwise (predict, evaluate, the C++ runtime,
// ONNX). The draws come from the layer's generator: its `seed`, or the global seed stream (set_random_seed), so a
// rerun after the same seed is bit-identical.
//   RandomFlip(mode)                       horizontal and / or vertical flips, each with probability 1/2
//   RandomRotation(factor)                 angle uniform in [lower, upper] * 2 pi (positive: counter-clockwise)
//   RandomZoom(height_factor, width_factor) zoom uniform in 1 + [lower, upper] (positive: out), about the center
//   RandomTranslation(height_factor, width_factor)  shift uniform in [lower, upper] * the image's height / width
//   RandomContrast(factor)                 (x - mean) * uniform(1 - lower, 1 + upper) + mean, clipped to value_range
//   RandomBrightness(factor)               x + uniform(lower, upper) * (value_range width), clipped to value_range
//   RandomCrop(height, width)              a random height x width window in training; at inference (and for an
//                                          image smaller than that) the largest centered window of the target's
//                                          aspect ratio, resized to it (as Keras)
// and two deterministic ones, the same in training and inference:
//   Resizing(height, width, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)   tf.image.resize's
//                                          half-pixel-centred sampling (antialias off), as Keras
//   CenterCrop(height, width)              the centered window (resized as RandomCrop's inference if too small)
// The geometric ones resample with kernels::image_transform_* (nearest or bilinear, TensorFlow's fill modes).
// Backward is exact (the resampling's adjoint; the clipping's mask), so they may sit anywhere in a model.
#include <array>
#include <string>
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {
namespace kernels {
enum class ImageFill;
}  // namespace kernels

class RandomImageLayer : public Layer {
 public:
  enum class Kind { flip, rotation, zoom, translation, contrast, brightness, crop, resizing, center_crop };
  struct Options {
    std::string mode = "horizontal_and_vertical";  // flip: "horizontal", "vertical" or both
    std::array<float, 2> factor{0.f, 0.f};         // rotation, contrast, brightness; zoom / translation: height
    std::array<float, 2> width_factor{0.f, 0.f};   // zoom / translation
    bool has_width_factor = false;                 // zoom: without one, the width zooms as the height
    std::string fill_mode = "reflect";             // reflect, wrap, nearest, constant
    std::string interpolation = "bilinear";        // nearest, bilinear
    float fill_value = 0.f;
    std::array<float, 2> value_range{0.f, 255.f};  // contrast, brightness
    int64_t height = 0, width = 0;                 // crop, resizing, center_crop: the output size
    bool crop_to_aspect_ratio = false, pad_to_aspect_ratio = false;  // resizing
    int64_t seed = -1;                             // < 0: from the global seed stream
  };
  RandomImageLayer(Kind kind, const Options& options, const std::string& name = "");
  std::string class_name() const override;
  Json config() const override;
  template <Kind K>
  static LayerPtr from_config(const Json& config);
  Kind kind() const { return kind_; }
  const Options& options() const { return options_; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }

 protected:
  struct Call : LayerCall {
    bool active = false;        // the last forward changed its input (training, or a resizing kind)
    std::vector<float> params;  // per image: 6 transform values, or the contrast factor / brightness delta
    // A resized window smaller than the image is cut out first (window), so that its sampling clamps at the
    // window's edges as tf.image.resize on the cropped image does: box = (top, bottom, left, right) cut off.
    bool cropped = false;
    std::array<int64_t, 4> box{0, 0, 0, 0};
    Tensor window, dwindow;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  Kind kind_;
  Options options_;
  std::string who() const { return class_name() + " '" + name_ + "'"; }
  float uniform(float lo, float hi);  // from the layer's generator
  void draw(Call& call, int64_t B, int64_t H, int64_t W);
  // The resizing kinds' transforms (one per image, all alike but RandomCrop's in training) for input H x W.
  void windows(Call& call, int64_t B, int64_t H, int64_t W, bool training);
  bool sized() const { return kind_ == Kind::crop || kind_ == Kind::resizing || kind_ == Kind::center_crop; }
  kernels::ImageFill resize_fill() const;
};

}  // namespace nncore
