// What the adam and adamw plugins share: the same parameters, mapped onto LibTorch's AdamOptions
// or AdamWOptions (which differ in how weight decay acts, not in their fields).
#pragma once

#include <trainyard/plugin_api.h>

namespace trainyard::optimizers {

/// lr, beta1, beta2, eps, weight_decay (with this default and meaning), amsgrad.
inline std::vector<ParamSpec> adam_family_schema(double weight_decay, const char* weight_decay_meaning) {
  return {
      float_param("lr", 1e-3, "learning rate").greater_than(0),
      float_param("beta1", 0.9, "decay of the first-moment estimate").at_least(0).less_than(1),
      float_param("beta2", 0.999, "decay of the second-moment estimate").at_least(0).less_than(1),
      float_param("eps", 1e-8, "term added to the denominator for stability").greater_than(0),
      float_param("weight_decay", weight_decay, weight_decay_meaning).at_least(0),
      bool_param("amsgrad", false, "use the AMSGrad variant (Reddi et al., 2018)"),
  };
}

/// The options those parameters describe, as AdamOptions or AdamWOptions.
template <typename Options>
Options adam_family_options(const Params& params) {
  return Options(params.get_float("lr"))
      .betas({params.get_float("beta1"), params.get_float("beta2")})
      .eps(params.get_float("eps"))
      .weight_decay(params.get_float("weight_decay"))
      .amsgrad(params.get_bool("amsgrad"));
}

}  // namespace trainyard::optimizers
