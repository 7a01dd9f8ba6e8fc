// Per-item resize / crop / pad / channel conversion.
//
// Resizing uses antialiased bilinear interpolation (torch's interpolate with antialias = true,
// which matches PIL's BILINEAR filter for downscaling) on float pixels, then rounds to uint8.
// It is one clear rule that is the same on CPU and GPU builds; ADM's center_crop_arr (repeated
// BOX halving then BICUBIC, as Pillow computes them) is the separate `adm_crop`, for ImageNet
// references prepared that way. The shorter side becomes `resize`, the longer one
// floor(resize * long / short), as torchvision does. Crops and pads are centred with the odd
// pixel at the bottom/right (ADM's (h - size) // 2 offset).
#include "core/dataset.h"

#include "core/error.h"
#include "core/pil_resize.h"

namespace fluxion::core {

namespace {
struct Shape {
  int64_t channels, height, width;
};

Shape resized_shape(const Shape& in, int side) {
  if (in.height <= in.width) return {in.channels, side, std::max<int64_t>(1, side * in.width / in.height)};
  return {in.channels, std::max<int64_t>(1, side * in.height / in.width), side};
}

// The shape transform_image produces from an input shape (the same rules, without pixels).
Shape transformed_shape(Shape shape, const ImageTransform& t) {
  if (t.channels > 0) shape.channels = t.channels;
  if (t.adm_crop > 0) shape.height = shape.width = t.adm_crop;
  if (t.resize > 0) shape = resized_shape(shape, t.resize);
  if (t.center_crop > 0) shape.height = shape.width = t.center_crop;
  if (t.pad_to > 0) shape.height = shape.width = t.pad_to;
  return shape;
}

torch::Tensor convert_channels(const torch::Tensor& image, int channels) {
  const int64_t have = image.size(0);
  if (channels <= 0 || have == channels) return image;
  if (have == 1 && channels == 3) return image.expand({3, image.size(1), image.size(2)}).contiguous();
  // ITU-R 601-2 luma, as PIL's convert("L"), rounded.
  auto rgb = image.to(torch::kFloat);
  auto gray = rgb[0] * 0.299f + rgb[1] * 0.587f + rgb[2] * 0.114f;  // (3, H, W) -> (H, W)
  return gray.round().clamp(0, 255).to(torch::kByte).unsqueeze(0);
}

torch::Tensor resize_shorter_side(const torch::Tensor& image, int side) {
  const Shape target = resized_shape({image.size(0), image.size(1), image.size(2)}, side);
  if (target.height == image.size(1) && target.width == image.size(2)) return image;
  namespace F = torch::nn::functional;
  auto pixels = image.to(torch::kFloat).unsqueeze(0);  // (C, H, W) -> (1, C, H, W)
  auto resized = F::interpolate(pixels, F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{target.height, target.width})
                                            .mode(torch::kBilinear)
                                            .align_corners(false)
                                            .antialias(true));
  return resized.squeeze(0).round().clamp(0, 255).to(torch::kByte);
}
}  // namespace

torch::Tensor transform_image(const torch::Tensor& image_u8, const ImageTransform& t, const std::string& source) {
  FLUXION_CHECK(image_u8.dim() == 3 && image_u8.scalar_type() == torch::kByte, source,
                ": expected a uint8 (C, H, W) image, got ", image_u8.sizes());
  FLUXION_CHECK(t.channels == 0 || t.channels == 1 || t.channels == 3, source, ": channels must be 0, 1 or 3, got ",
                t.channels);
  FLUXION_CHECK(image_u8.size(0) == 1 || image_u8.size(0) == 3, source, ": images must have 1 or 3 channels, got ",
                image_u8.size(0));
  FLUXION_CHECK(t.adm_crop <= 0 || (t.resize <= 0 && t.center_crop <= 0), source,
                ": the ADM crop replaces resize and centre crop; give one or the other");
  torch::Tensor image = convert_channels(image_u8, t.channels);
  if (t.adm_crop > 0) image = adm_center_crop(image, t.adm_crop);
  if (t.resize > 0) image = resize_shorter_side(image, t.resize);
  if (t.center_crop > 0) {
    const int64_t h = image.size(1), w = image.size(2), side = t.center_crop;
    FLUXION_CHECK(h >= side && w >= side, source, ": centre crop ", side, " larger than the ", h, "x", w,
                  " image (resize first)");
    // (C, H, W) -> (C, side, side)
    image = image.narrow(1, (h - side) / 2, side).narrow(2, (w - side) / 2, side);
  }
  if (t.pad_to > 0) {
    const int64_t h = image.size(1), w = image.size(2), side = t.pad_to;
    FLUXION_CHECK(h <= side && w <= side, source, ": cannot pad the ", h, "x", w, " image to ", side, "x", side,
                  " (it is larger)");
    auto padded = torch::zeros({image.size(0), side, side}, image.options());
    // (C, H, W) -> centred in (C, side, side)
    padded.narrow(1, (side - h) / 2, h).narrow(2, (side - w) / 2, w).copy_(image);
    image = padded;
  }
  return image.contiguous();
}

namespace {
class TransformedDataset final : public Dataset {
 public:
  TransformedDataset(std::shared_ptr<Dataset> base, const ImageTransform& transform)
      : base_(std::move(base)),
        transform_(transform),
        shape_(transformed_shape({base_->channels(), base_->height(), base_->width()}, transform)) {
    FLUXION_CHECK(transform.channels == 0 || transform.channels == 1 || transform.channels == 3, base_->describe(),
                  ": channels must be 0, 1 or 3, got ", transform.channels);
  }
  int64_t size() const override { return base_->size(); }
  Example get(int64_t index) const override {
    Example example = base_->get(index);
    try {
      example.image = transform_image(example.image, transform_, "image");
    } catch (const Error& e) {
      fail(base_->describe(), ", item ", index, ": ", e.what());
    }
    return example;
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  int channels() const override { return static_cast<int>(shape_.channels); }
  int height() const override { return static_cast<int>(shape_.height); }
  int width() const override { return static_cast<int>(shape_.width); }
  std::string describe() const override {
    return concat(base_->describe(), ", as ", shape_.channels, "x", shape_.height, "x", shape_.width);
  }
  std::vector<std::string> class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<Dataset> base_;
  ImageTransform transform_;
  Shape shape_;
};
}  // namespace

std::shared_ptr<Dataset> transform_dataset(std::shared_ptr<Dataset> dataset, const ImageTransform& transform) {
  FLUXION_CHECK(dataset != nullptr, "transform_dataset: no dataset");
  if (transform.empty()) return dataset;
  // Validate once on the first item so a bad crop/pad fails now, not mid-training.
  if (dataset->size() > 0) transform_image(dataset->get(0).image, transform, dataset->describe());
  return std::make_shared<TransformedDataset>(std::move(dataset), transform);
}

}  // namespace fluxion::core
