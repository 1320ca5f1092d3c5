#include "trainyard/train/checkpoint.h"

#include <stdexcept>

namespace fs = std::filesystem;

namespace trainyard {

void serialize_checkpoint(Model& model, torch::optim::Optimizer* optimizer, const CheckpointInfo& info,
                          const std::function<void(const void* data, std::size_t size)>& sink) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  archive.write("epoch", c10::IValue(info.epoch));
  archive.write("test_accuracy", c10::IValue(info.test_accuracy));
  c10::List<std::string> names;
  for (const auto& name : info.class_names) names.push_back(name);
  archive.write("class_names", c10::IValue(names));
  archive.write("config_yaml", c10::IValue(info.config_yaml));
  if (!info.owner.empty()) archive.write("owner", c10::IValue(info.owner));
  if (!info.generator_states.empty()) {
    c10::List<at::Tensor> states;
    for (const auto& state : info.generator_states) states.push_back(state);
    archive.write("generator_states", c10::IValue(states));
    archive.write("loss_scale", c10::IValue(info.loss_scale));
    archive.write("loss_scale_clean_steps", c10::IValue(info.loss_scale_clean_steps));
  }

  // The sink never fails: LibTorch's zip writer, when its writer function writes short (a full
  // disk), throws again from its destructor and ends the process. A sink that writes a file keeps
  // its error for later (DurableFile does).
  archive.save_to([&sink](const void* data, std::size_t size) {
    sink(data, size);
    return size;
  });
}

namespace {

CheckpointInfo read_checkpoint(torch::serialize::InputArchive& archive, Model& model,
                               torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  model.load(model_archive);
  CheckpointInfo info;
  torch::serialize::InputArchive optimizer_archive;
  info.has_optimizer = archive.try_read("optimizer", optimizer_archive);
  if (optimizer && info.has_optimizer) optimizer->load(optimizer_archive);
  c10::IValue value;
  archive.read("epoch", value);
  info.epoch = value.toInt();
  archive.read("test_accuracy", value);
  info.test_accuracy = value.toDouble();
  archive.read("class_names", value);
  for (const c10::IValue& name : value.toList().vec()) info.class_names.push_back(name.toStringRef());
  archive.read("config_yaml", value);
  info.config_yaml = value.toStringRef();
  if (archive.try_read("owner", value)) info.owner = value.toStringRef();
  if (archive.try_read("generator_states", value)) {
    for (const c10::IValue& state : value.toList().vec()) info.generator_states.push_back(state.toTensor());
    archive.read("loss_scale", value);
    info.loss_scale = value.toDouble();
    archive.read("loss_scale_clean_steps", value);
    info.loss_scale_clean_steps = value.toInt();
  }
  return info;
}

}  // namespace

bool checkpoint_has_optimizer(const fs::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  torch::serialize::InputArchive optimizer_archive;
  return archive.try_read("optimizer", optimizer_archive);
}

CheckpointInfo load_checkpoint(const fs::path& path, Model& model, torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  return read_checkpoint(archive, model, optimizer);
}

CheckpointInfo load_checkpoint_bytes(const std::string& bytes, Model& model, torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  return read_checkpoint(archive, model, optimizer);
}

std::vector<torch::Tensor> generator_states(const torch::Device& device) {
  std::vector<torch::Tensor> states;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    states.push_back(cpu.get_state());
  }
  if (device.is_cuda()) {
    for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i) {
      at::Generator cuda =
          at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(cuda.mutex());
      states.push_back(cuda.get_state());
    }
  }
  return states;
}

void restore_generator_states(const std::vector<torch::Tensor>& states, const torch::Device& device) {
  if (states.empty()) return;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    cpu.set_state(states.front());
  }
  if (device.is_cuda()) {
    for (std::size_t i = 1;
         i < states.size() && static_cast<int>(i - 1) < static_cast<int>(torch::cuda::device_count()); ++i) {
      at::Generator cuda =
          at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i - 1)));
      std::lock_guard<std::mutex> lock(cuda.mutex());
      cuda.set_state(states[i]);
    }
  }
}

}  // namespace trainyard
