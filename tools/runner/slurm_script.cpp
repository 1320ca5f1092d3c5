#include "slurm_script.h"

#include <cctype>
#include <sstream>

#include "trainyard/errors.h"
#include "trainyard/system/shell_quote.h"

namespace trainyard {
namespace {

// Slurm job names: letters, digits, '-', '_' and '.' keep logs and squeue readable.
std::string job_name(const std::string& sweep) {
  std::string name = "trainyard-";
  for (char c : sweep) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return name;
}

}  // namespace

std::string slurm_script(const SlurmSweep& sweep, const SlurmResources& r) {
  if (r.workers < 1) throw InputError("--workers: a job array needs at least 1 worker");
  if (r.cpus_per_worker < 1) throw InputError("--cpus-per-worker: at least 1");
  if (r.gpus_per_worker < 0) throw InputError("--gpus-per-worker: 0 or more");
  std::ostringstream out;
  out << "#!/bin/bash\n"
      << "# Trainyard sweep '" << sweep.sweep_name << "' of " << sweep.experiment_file << ": " << sweep.trials
      << " trials shared by " << r.workers << " workers\n"
      << "# through " << sweep.database << ".\n"
      << "# Written by `runner " << sweep.experiment_file << " --emit-slurm`. Submit with: sbatch THIS_FILE\n"
      << "# Each array task is one worker: it claims the next pending trial, runs it, and repeats until\n"
      << "# none is left. A worker that dies (node failure, time limit) stops renewing its trial's\n"
      << "# lease; after " << sweep.lease_seconds << " s another worker takes the trial over. More workers can join\n"
      << "# at any time: sbatch this file again, or run the exec line below on any machine.\n"
      << "#SBATCH --job-name=" << job_name(sweep.sweep_name) << "\n"
      << "#SBATCH --array=0-" << r.workers - 1 << "\n"
      << "#SBATCH --ntasks=1\n"
      << "#SBATCH --cpus-per-task=" << r.cpus_per_worker << "\n";
  if (r.gpus_per_worker > 0) out << "#SBATCH --gres=gpu:" << r.gpus_per_worker << "\n";
  if (!r.memory.empty()) out << "#SBATCH --mem=" << r.memory << "\n";
  if (!r.time_limit.empty()) out << "#SBATCH --time=" << r.time_limit << "\n";
  if (!r.partition.empty()) out << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) out << "#SBATCH --account=" << r.account << "\n";
  out << "#SBATCH --chdir=" << sweep.working_folder << "\n"
      << "#SBATCH --output=slurm-%x-%A_%a.out\n"
      << "set -euo pipefail\n"
      << "exec " << shell_quote(sweep.runner_path) << " " << shell_quote(sweep.experiment_file) << " --worker --lease "
      << sweep.lease_seconds;
  for (const auto& s : sweep.sets) out << " --set " << shell_quote(s);
  for (const auto& s : sweep.sweeps) out << " --sweep " << shell_quote(s);
  out << "\n";
  return out.str();
}

}  // namespace trainyard
