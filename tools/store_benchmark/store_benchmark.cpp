// The results store's speed on one engine: how fast runs record epochs (one transaction each, as
// training writes them) and how long a worker waits to claim a trial, alone and with others
// claiming at once. scripts/benchmark-store.sh runs it on SQLite and on a PostgreSQL server on
// loopback in one go and prints both.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "trainyard/store/results_store.h"

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Latencies {
  std::vector<double> ms;
  double percentile(double p) {
    std::sort(ms.begin(), ms.end());
    return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ms.size())))];
  }
};

trainyard::RunRecord bench_run() {
  trainyard::RunRecord r;
  r.experiment = "store-benchmark";
  r.config_yaml = "name: store-benchmark\nseed: 1\noptimizer: {plugin: adam, lr: 0.0001}\n";
  r.host = "bench";
  return r;
}

// Claims and completes trials until none is left; returns each claim's latency.
Latencies drain(const std::string& db, std::int64_t sweep, const std::string& worker) {
  trainyard::ResultsStore store(db);
  Latencies claims;
  for (;;) {
    const auto start = Clock::now();
    const auto trial = store.claim_trial(sweep, worker, 60);
    claims.ms.push_back(milliseconds_since(start));
    if (!trial) break;
    store.complete_trial(trial->id, worker, true, std::nullopt);
  }
  claims.ms.pop_back();  // the last, empty claim
  return claims;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Results store benchmark: epoch writes and trial claims on one database"};
  std::string db, label;
  int epochs = 2000, trials = 1000, workers = 4;
  app.add_option("--db", db, "a new SQLite file or an empty PostgreSQL database")->required();
  app.add_option("--label", label, "name printed with the figures");
  app.add_option("--epochs", epochs, "epochs recorded, one transaction each")->capture_default_str();
  app.add_option("--trials", trials, "trials claimed, per phase")->capture_default_str();
  app.add_option("--workers", workers, "processes claiming at once in the second phase")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (label.empty()) label = db;

  // Epoch writes, as a training run makes them.
  {
    trainyard::ResultsStore store(db);
    const auto run = store.begin_run(bench_run());
    Latencies writes;
    const auto start = Clock::now();
    for (int e = 1; e <= epochs; ++e) {
      trainyard::EpochRecord record;
      record.epoch = e;
      record.train_loss = 1.0 / e;
      record.test_accuracy = 0.5 + 0.4 * e / epochs;
      const auto t = Clock::now();
      store.record_epoch(run, record, e % 10 == 0, "best.pt");
      writes.ms.push_back(milliseconds_since(t));
    }
    const double seconds = milliseconds_since(start) / 1000.0;
    std::printf("%s: epoch writes: %d in %.2f s = %.0f epochs/s; per write median %.3f ms, p95 %.3f ms\n",
                label.c_str(), epochs, seconds, epochs / seconds, writes.percentile(0.5), writes.percentile(0.95));
  }

  auto make_sweep = [&](const std::string& name) {
    trainyard::ResultsStore store(db);
    const auto sweep = store.ensure_sweep(name, "bench.yaml", "grid: {}");
    std::vector<std::string> keys;
    for (int i = 0; i < trials; ++i) keys.push_back("trial-" + std::to_string(i));
    store.enqueue_trials(sweep, keys, {});
    return sweep;
  };
  // One worker alone: the claim's own cost.
  {
    const auto sweep = make_sweep("alone");
    auto claims = drain(db, sweep, "solo");
    std::printf("%s: trial claims, 1 worker: %zu claims; median %.3f ms, p95 %.3f ms\n", label.c_str(),
                claims.ms.size(), claims.percentile(0.5), claims.percentile(0.95));
  }
  // Several processes claiming from one queue at once.
  {
    const auto sweep = make_sweep("together");
    const auto start = Clock::now();
    std::vector<pid_t> children;
    int pipes[2];
    if (::pipe(pipes) != 0) return 1;
    for (int w = 0; w < workers; ++w) {
      const pid_t child = ::fork();
      if (child == 0) {
        ::close(pipes[0]);
        auto claims = drain(db, sweep, "w" + std::to_string(w));
        const double figures[3] = {static_cast<double>(claims.ms.size()), claims.percentile(0.5),
                                   claims.percentile(0.95)};
        if (::write(pipes[1], figures, sizeof figures) != sizeof figures) ::_exit(1);
        ::_exit(0);
      }
      children.push_back(child);
    }
    ::close(pipes[1]);
    double total = 0, worst_median = 0, worst_p95 = 0;
    for (int w = 0; w < workers; ++w) {
      double figures[3];
      if (::read(pipes[0], figures, sizeof figures) != sizeof figures) return 1;
      total += figures[0];
      worst_median = std::max(worst_median, figures[1]);
      worst_p95 = std::max(worst_p95, figures[2]);
    }
    for (const pid_t child : children) ::waitpid(child, nullptr, 0);
    const double seconds = milliseconds_since(start) / 1000.0;
    trainyard::ResultsStore store(db);
    const auto counts = store.trial_counts(sweep);
    std::printf(
        "%s: trial claims, %d workers at once: %.0f claims (%lld finished once each) in %.2f s = %.0f "
        "claims/s; slowest worker's median %.3f ms, p95 %.3f ms\n",
        label.c_str(), workers, total, static_cast<long long>(counts.finished), seconds, total / seconds, worst_median,
        worst_p95);
  }
  return 0;
}
