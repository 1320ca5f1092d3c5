#include "commands.h"

#include <filesystem>
#include <iostream>

#include <trainyard/errors.h>
#include <trainyard/store/postgres_connection.h>
#include <trainyard/system/durable_file.h>

namespace trainyard::runner {

// runner EXPERIMENT --emit-slurm FILE: the job array of workers for this sweep.
int slurm_command(const Invocation& invocation, const SweepSpec& spec, std::size_t trials, const std::string& db) {
  if (!trainyard::is_postgres_url(db)) {
    throw trainyard::InputError(
        "--emit-slurm: workers on several machines need a shared PostgreSQL store, and output.db is the "
        "SQLite file '" +
        db +
        "' (SQLite over a network file system corrupts). Set output.db: "
        "postgresql://USER@HOST:PORT/DBNAME (README: Sweeps across machines)");
  }
  // Validated before anything is written: a bad resource leaves no file behind.
  trainyard::SlurmSweep sweep;
  sweep.sweep_name = spec.name;
  sweep.trials = trials;
  sweep.runner_path = std::filesystem::absolute(runner_executable()).string();
  sweep.experiment_file = std::filesystem::absolute(invocation.experiment_file).string();
  sweep.working_folder = std::filesystem::current_path().string();
  sweep.database = trainyard::redact_postgres_url(db);
  sweep.sets = invocation.sets;
  sweep.sweeps = invocation.sweeps;
  sweep.lease_seconds = invocation.lease_seconds;
  const std::string script = trainyard::slurm_script(sweep, invocation.slurm);
  const std::filesystem::path file(invocation.emit_slurm);
  try {
    trainyard::DurableFile out(file);  // a new file, never through a link planted at its name
    std::filesystem::permissions(out.temporary_path(), std::filesystem::perms::owner_all |
                                                           std::filesystem::perms::group_read |
                                                           std::filesystem::perms::group_exec);
    out.write(script.data(), script.size());
    out.commit();
  } catch (const std::runtime_error& e) {
    throw trainyard::InputError(std::string("--emit-slurm: ") + e.what());
  }
  std::cout << "wrote " << file.string() << ": sweep '" << spec.name << "', " << trials << " trials, "
            << invocation.slurm.workers << " workers (job array) through " << sweep.database
            << "\nsubmit it with: sbatch " << file.string() << "\n";
  return trainyard::kExitOk;
}

}  // namespace trainyard::runner
