// The one collective a plugin's layers may need in a data-parallel run: a sum over every process.
// The host's process group (trainyard::Communicator, c10d over Gloo or NCCL) implements it; a
// plugin sees only this interface, so the SDK carries no c10d, and a layer such as
// trainyard::BatchNorm2d can be synchronized without knowing how processes talk.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace trainyard {

class Collectives {
 public:
  virtual ~Collectives();
  /// Sums `tensors` in place over every process of the run; every process must call it with
  /// tensors of the same shapes, in the same order.
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  virtual int world_size() const = 0;
};

}  // namespace trainyard
