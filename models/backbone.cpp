#include "models/backbone.h"

#include "core/error.h"
#include "models/module_state.h"

namespace fluxion::models {

core::TensorMap Backbone::state_dict() const { return module_state(*this); }

void Backbone::load_state(const core::TensorMap& tensors, const std::string& source) {
  load_module_state(*this, tensors, source, concat(family(), " ", config_json()));
}

void Backbone::check_input_fits(const torch::Tensor& x) const {
  FLUXION_CHECK(x.dim() == 4 && x.size(1) == in_channels() && x.size(2) == image_size() && x.size(3) == image_size(),
                family(), ": input of shape ", x.sizes(), " does not fit the model (", in_channels(), "x", image_size(),
                "x", image_size(), ")");
}

int64_t Backbone::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

}  // namespace fluxion::models
