// `runner EXPERIMENT --emit-slurm FILE`: a Slurm batch script that runs a sweep as a job array of
// workers (`runner EXPERIMENT --worker`), each array task one worker on whatever node Slurm
// gives it, all sharing the sweep through the experiment's PostgreSQL output.db.
#pragma once

#include <string>
#include <vector>

namespace trainyard {

struct SlurmResources {
  int workers = 4;  // array tasks: workers that run at once
  int cpus_per_worker = 4;
  int gpus_per_worker = 0;
  std::string memory;      // --mem, e.g. 16G (empty: the partition's default)
  std::string time_limit;  // --time, e.g. 04:00:00
  std::string partition;
  std::string account;
};

struct SlurmSweep {
  std::string sweep_name;
  std::size_t trials = 0;
  std::string runner_path;          // absolute
  std::string experiment_file;      // absolute
  std::string working_folder;       // absolute: relative paths in the experiment resolve from it
  std::string database;             // for the comment only (password hidden)
  std::vector<std::string> sets;    // --set KEY=VALUE, as given
  std::vector<std::string> sweeps;  // --sweep KEY=V1,V2, as given
  double lease_seconds = 60.0;
};

/// The script's text. Throws InputError for resources Slurm would refuse (no workers, say).
std::string slurm_script(const SlurmSweep& sweep, const SlurmResources& resources);

}  // namespace trainyard
