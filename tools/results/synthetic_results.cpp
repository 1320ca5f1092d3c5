#include "synthetic_results.h"

#include <cmath>
#include <random>

#include "trainyard/config/config_rows.h"
#include "trainyard/config/experiment_config.h"
#include "trainyard/store/results_store.h"

namespace trainyard::results {

void write_synthetic_results(const std::string& path, std::int64_t runs, std::int64_t epochs, std::uint64_t seed) {
  ResultsStore store(path);
  auto& db = store.database();
  std::mt19937_64 random(seed);
  std::normal_distribution<double> noise(0.0, 0.01);
  const double rates[] = {1e-4, 3e-4, 1e-3, 3e-3};
  const std::int64_t batches[] = {16, 32, 64};

  const auto sweep = store.ensure_sweep("synthetic-lr", "experiments/synthetic.yaml",
                                        "grid: {optimizer.lr: [0.0001, 0.0003, 0.001, 0.003]}");
  SqlWriteTransaction transaction(db);
  const std::string run_sql = R"sql(
    INSERT INTO runs (id, experiment, experiment_file, config_yaml, status, started_at, ended_at,
                      host, device, torch_version, seed, model_plugin, dataset_plugin,
                      optimizer_plugin, precision, best_epoch, best_test_accuracy, sweep_id, trial_key)
    VALUES (?, 'synthetic', 'experiments/synthetic.yaml', ?, 'finished', ?, ?, 'bench', 'cpu (2 threads)',
            '1.13.1', ?, 'resnet50 1.0.0', 'imagefolder 1.0.0', 'adam 1.0.0', 'bf16', ?, ?, ?, ?))sql";
  const std::string config_sql = "INSERT INTO run_config (run_id, key, value, number) VALUES (?, ?, ?, ?)";
  const std::string epoch_sql = R"sql(
    INSERT INTO epochs (run_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy,
                        learning_rate, epoch_seconds, train_images_per_second,
                        test_images_per_second, data_wait_fraction, finished_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 10.0, 25.0, 95.0, 0.001, ?))sql";

  for (std::int64_t id = 1; id <= runs; ++id) {
    const double lr = rates[(id - 1) % 4];
    const std::int64_t batch = batches[(id - 1) % 3];
    const bool trial = id <= 12;
    // Accuracy approaches a ceiling that depends on the learning rate, with noise per epoch.
    const double ceiling = 0.97 - 0.02 * std::abs(std::log10(lr / 1e-3));
    double best = -1.0;
    std::int64_t best_epoch = 0;
    std::vector<double> accuracy(static_cast<std::size_t>(epochs));
    for (std::int64_t e = 1; e <= epochs; ++e) {
      const double a = std::min(0.999, ceiling * (1.0 - std::exp(-static_cast<double>(e) / 3.0)) + noise(random));
      accuracy[static_cast<std::size_t>(e - 1)] = a;
      if (a > best) best = a, best_epoch = e;
    }
    const std::string started = "2026-11-" + std::string(id % 2 ? "24" : "25") + "T10:00:00.000Z";
    const std::string yaml = "name: synthetic\nseed: " + std::to_string(id) +
                             "\nmodel:\n  plugin: resnet50\noptimizer:\n  plugin: adam\n  lr: " + format_double(lr) +
                             "\ntrain:\n  batch_size: " + std::to_string(batch) +
                             "\n  epochs: " + std::to_string(epochs) + "\n";
    const std::string trial_key =
        "optimizer.lr=" + format_double(lr) + " seed=" + std::to_string(id);  // as SweepTrial::key
    db.query(run_sql, {id, yaml, started, started, id, best_epoch, best, trial ? SqlValue{sweep} : SqlValue{},
                       trial ? trial_key : std::string()});
    const std::pair<const char*, std::string> rows[] = {{"model.plugin", "resnet50"},
                                                        {"name", "synthetic"},
                                                        {"optimizer.lr", format_double(lr)},
                                                        {"optimizer.plugin", "adam"},
                                                        {"seed", std::to_string(id)},
                                                        {"train.batch_size", std::to_string(batch)},
                                                        {"train.epochs", std::to_string(epochs)}};
    for (const auto& [key, value] : rows) {
      const auto number = parse_number(value);
      db.query(config_sql, {id, std::string(key), value, number ? SqlValue{*number} : SqlValue{}});
    }
    for (std::int64_t e = 1; e <= epochs; ++e) {
      const double a = accuracy[static_cast<std::size_t>(e - 1)];
      db.query(epoch_sql, {id, e, 1.2 * std::exp(-static_cast<double>(e) / 3.0) + 0.02, std::min(0.999, a + 0.02),
                           1.0 - a, a, lr, started});
    }
  }
  transaction.commit();
}

}  // namespace trainyard::results
