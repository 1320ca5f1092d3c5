#include "trainyard/train/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace trainyard {

FaultInjector FaultInjector::from_environment() {
  FaultInjector faults;
  if (const char* epoch = std::getenv("TRAINYARD_FAULT_KILL_AFTER_EPOCH")) {
    faults.kill_after_epoch(std::atoll(epoch));
  }
  if (const char* epoch = std::getenv("TRAINYARD_FAULT_STOP_AFTER_EPOCH")) {
    faults.stop_after_epoch(std::atoll(epoch));
  }
  if (const char* epoch = std::getenv("TRAINYARD_FAULT_KILL_IN_CHECKPOINT")) {
    faults.kill_in_checkpoint(std::atoll(epoch));
  }
  if (const char* spec = std::getenv("TRAINYARD_FAULT_KILL_RANK_AT_STEP")) {
    if (const char* colon = std::strchr(spec, ':')) faults.kill_rank_at_step(std::atoi(spec), std::atoll(colon + 1));
  }
  return faults;
}

FaultInjector& FaultInjector::kill_after_epoch(std::int64_t epoch) {
  kill_after_epoch_ = epoch;
  return *this;
}

FaultInjector& FaultInjector::stop_after_epoch(std::int64_t epoch) {
  stop_after_epoch_ = epoch;
  return *this;
}

FaultInjector& FaultInjector::kill_in_checkpoint(std::int64_t epoch) {
  kill_in_checkpoint_ = epoch;
  return *this;
}

FaultInjector& FaultInjector::kill_rank_at_step(int rank, std::int64_t step) {
  kill_rank_ = rank;
  kill_step_ = step;
  return *this;
}

void FaultInjector::before_step(int rank, std::int64_t step) const {
  if (kill_rank_ && *kill_rank_ == rank && kill_step_ == step) std::raise(SIGKILL);
}

void FaultInjector::after_epoch(std::int64_t epoch) const {
  if (kill_after_epoch_ && *kill_after_epoch_ == epoch) std::raise(SIGKILL);
  if (stop_after_epoch_ && *stop_after_epoch_ == epoch) std::raise(SIGSTOP);
}

bool FaultInjector::acts_after_epoch(std::int64_t epoch) const {
  return kill_after_epoch_ == epoch || stop_after_epoch_ == epoch;
}

void FaultInjector::in_checkpoint(std::int64_t epoch) const {
  if (kill_in_checkpoint_ && *kill_in_checkpoint_ == epoch) std::raise(SIGKILL);
}

}  // namespace trainyard
