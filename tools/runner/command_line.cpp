// The runner's command line: every option, its help text, and where it goes in the Invocation.
#include <CLI/CLI.hpp>

#include "commands.h"

namespace trainyard::runner {

void add_options(CLI::App& app, Invocation& invocation) {
  app.add_option("experiment", invocation.experiment_file, "experiment YAML file");
  app.add_option("--set", invocation.sets, "override a key, e.g. --set optimizer.lr=1e-3 (repeatable)");
  app.add_option("--sweep", invocation.sweeps,
                 "sweep a key over values, e.g. --sweep optimizer.lr=1e-3,1e-4 (repeatable; adds to "
                 "the file's sweep: grid)");
  app.add_option("--jobs", invocation.jobs,
                 "sweep trials to run at once; 0: one per core, as many as memory holds (default: the file's "
                 "sweep.jobs, which defaults to 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--sweep-summary", invocation.sweep_summary_only,
               "print the summary table of the file's sweep and exit");
  app.add_flag("--worker", invocation.worker,
               "join the file's sweep as a worker: claim its pending trials from output.db one at a time "
               "until none is left (start any number, on any machines sharing a PostgreSQL output.db)");
  app.add_option("--lease", invocation.lease_seconds,
                 "with --worker: seconds a claimed trial stays this worker's without renewal; after a worker "
                 "dies its trial passes to another once this has run out")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--emit-slurm", invocation.emit_slurm,
                 "write a Slurm batch script (a job array of --worker processes) for the file's sweep to FILE, "
                 "for sbatch; resources from the Slurm options")
      ->type_name("FILE");
  auto* slurm_group = "Slurm (with --emit-slurm)";
  app.add_option("--workers", invocation.slurm.workers, "array tasks: workers running at once")
      ->capture_default_str()
      ->group(slurm_group)
      ->check(CLI::PositiveNumber);
  app.add_option("--cpus-per-worker", invocation.slurm.cpus_per_worker, "--cpus-per-task of each worker")
      ->capture_default_str()
      ->group(slurm_group)
      ->check(CLI::PositiveNumber);
  app.add_option("--gpus-per-worker", invocation.slurm.gpus_per_worker, "--gres=gpu:N of each worker")
      ->capture_default_str()
      ->group(slurm_group)
      ->check(CLI::NonNegativeNumber);
  app.add_option("--mem", invocation.slurm.memory, "--mem of each worker, e.g. 16G")->group(slurm_group);
  app.add_option("--time", invocation.slurm.time_limit, "--time of each worker, e.g. 04:00:00")->group(slurm_group);
  app.add_option("--partition", invocation.slurm.partition, "--partition")->group(slurm_group);
  app.add_option("--account", invocation.slurm.account, "--account")->group(slurm_group);
  // Used by a sweep to start its trials.
  app.add_option("--trial-of-sweep", invocation.trial_of_sweep)->group("");
  app.add_option("--trial-key", invocation.trial_key)->group("");
  app.add_option("--trial-set", invocation.trial_sets)->group("");
  app.add_option("--trial-lease", invocation.trial_lease)->group("");
  app.add_option("--resume", invocation.resume_id,
                 "continue run RUN_ID (interrupted, failed or killed) in its own row, from its last "
                 "checkpoint, with its stored configuration; run from the folder it was started in")
      ->type_name("RUN_ID");
  app.add_option("--db", invocation.resume_db,
                 "with --resume or --evaluate: the results database (default: the experiment's "
                 "output.db when an experiment file is given, else results/trainyard.db)");
  app.add_option("--evaluate", invocation.evaluate_id,
                 "evaluate run RUN_ID's checkpoint on its own test split: loss, top-1 (and top-5) accuracy, "
                 "per-class precision, recall and F1, the confusion matrix; kept in the run's database")
      ->type_name("RUN_ID");
  auto* evaluate_group = "Evaluation (with --evaluate)";
  app.add_option("--checkpoint", invocation.checkpoint, "best, last, or a checkpoint file")
      ->capture_default_str()
      ->group(evaluate_group);
  app.add_option("--split", invocation.split, "the run's split: test, or val (its validation split)")
      ->capture_default_str()
      ->group(evaluate_group);
  app.add_option("--data", invocation.data,
                 "evaluate on every image of this ImageFolder (DIR/<class>/<image>) instead of a split of the "
                 "run's; its class folders must be the run's classes")
      ->type_name("DIR")
      ->group(evaluate_group);
  app.add_option("--format", invocation.format,
                 "--evaluate: table (default) or json; --predict: csv (default) or json; --export: package (default) "
                 "or safetensors (the weights alone, for Python)")
      ->group(evaluate_group);
  app.add_option("--export", invocation.export_id,
                 "write run RUN_ID's checkpoint (--checkpoint) as a model package (--out FILE): weights, classes, "
                 "preprocessing, model plugin and provenance, for --predict and <trainyard/predictor.h>")
      ->type_name("RUN_ID");
  app.add_option("--predict", invocation.predict,
                 "classify images (files, or every image below folders) with a run's model or a model package: "
                 "--predict RUN_ID|PACKAGE FILE_OR_DIR...")
      ->type_name("SOURCE FILE_OR_DIR...")
      ->expected(1, -1);
  auto* predict_group = "Export and prediction (with --export or --predict)";
  app.add_option("--out", invocation.out,
                 "the package file (--export); the predictions' file (--predict: default stdout)")
      ->group(predict_group);
  app.add_option("--top", invocation.top, "--predict: the K most probable classes of each image (CSV: class_2, ...)")
      ->capture_default_str()
      ->group(predict_group);
  app.add_option("--on-bad-image", invocation.on_bad_image,
                 "--predict, --evaluate --data: a file that cannot be decoded fails the command (fail) or is named "
                 "and left out (skip); default: the run's dataset.on_bad_image (a package: fail)")
      ->group(predict_group);
  app.add_option("--nproc", invocation.nproc,
                 "train one run over N processes on this machine (data-parallel, c10d: Gloo on the "
                 "CPU, NCCL on GPUs); under torchrun or srun, leave it out")
      ->check(CLI::PositiveNumber);
  app.add_flag("--dry-run", invocation.dry_run, "validate the experiment and print the resolved configuration");
  app.add_flag("--list-plugins", invocation.list_plugins, "list the plugins found, with versions and files");
  app.add_option("--describe", invocation.describe_name,
                 "print a plugin's or a section's parameters (keys: every framework key, as the README's table)");
  app.add_flag("-v,--verbose", invocation.verbose, "debug logging");
  app.add_flag("-q,--quiet", invocation.quiet, "warnings and errors only");
}

}  // namespace trainyard::runner
