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

// Text for a comment line: a control character (a newline in a sweep name, say) would end the
// comment and start a line of the script, so each one shows as '?'.
std::string comment_text(const std::string& text) {
  std::string out;
  for (char c : text) out += std::iscntrl(static_cast<unsigned char>(c)) ? '?' : c;
  return out;
}

// An #SBATCH option's value: Slurm reads up to the first space, and a newline would start a line
// of the script, so both are refused rather than passed on.
const std::string& sbatch_value(const std::string& option, const std::string& value) {
  for (char c : value) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || std::isspace(static_cast<unsigned char>(c))) {
      throw InputError(option + " '" + comment_text(value) +
                       "': a Slurm option value cannot hold spaces or control characters");
    }
  }
  return value;
}

}  // namespace

std::string slurm_script(const SlurmSweep& sweep, const SlurmResources& r) {
  if (r.workers < 1) throw InputError("--workers: a job array needs at least 1 worker");
  if (r.cpus_per_worker < 1) throw InputError("--cpus-per-worker: at least 1");
  if (r.gpus_per_worker < 0) throw InputError("--gpus-per-worker: 0 or more");
  std::ostringstream out;
  out << "#!/bin/bash\n"
      << "# Trainyard sweep '" << comment_text(sweep.sweep_name) << "' of " << comment_text(sweep.experiment_file)
      << ": " << sweep.trials << " trials shared by " << r.workers << " workers\n"
      << "# through " << comment_text(sweep.database) << ".\n"
      << "# Written by `runner " << comment_text(sweep.experiment_file)
      << " --emit-slurm`. Submit with: sbatch THIS_FILE\n"
      << "# Each array task is one worker: it claims the next pending trial, runs it, and repeats until\n"
      << "# none is left. A worker that dies (node failure, time limit) stops renewing its trial's\n"
      << "# lease; after " << sweep.lease_seconds << " s another worker takes the trial over. More workers can join\n"
      << "# at any time: sbatch this file again, or run the exec line below on any machine.\n"
      << "#SBATCH --job-name=" << job_name(sweep.sweep_name) << "\n"
      << "#SBATCH --array=0-" << r.workers - 1 << "\n"
      << "#SBATCH --ntasks=1\n"
      << "#SBATCH --cpus-per-task=" << r.cpus_per_worker << "\n";
  if (r.gpus_per_worker > 0) out << "#SBATCH --gres=gpu:" << r.gpus_per_worker << "\n";
  if (!r.memory.empty()) out << "#SBATCH --mem=" << sbatch_value("--mem", r.memory) << "\n";
  if (!r.time_limit.empty()) out << "#SBATCH --time=" << sbatch_value("--time", r.time_limit) << "\n";
  if (!r.partition.empty()) out << "#SBATCH --partition=" << sbatch_value("--partition", r.partition) << "\n";
  if (!r.account.empty()) out << "#SBATCH --account=" << sbatch_value("--account", r.account) << "\n";
  out << "#SBATCH --chdir=" << sbatch_value("the working folder", sweep.working_folder) << "\n"
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
