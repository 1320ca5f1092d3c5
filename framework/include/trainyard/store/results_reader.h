// The store's read side: the queries the `results` tool (and anything else that reads results)
// runs over a Trainyard results database. A file is opened read-only (SQLite's WAL lets a run
// keep writing meanwhile) and never modified; files from before schema 4 get the current views as
// temporary views. The write side is results_store.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainyard/store/sql_database.h"

namespace trainyard {

/// A condition on a config key: "optimizer.lr<=1e-3", "model.plugin=resnet50".
struct ConfigCondition {
  std::string key;
  std::string op;  // = != < <= > >=
  std::string value;
};
/// Parses KEY OP VALUE; throws InputError naming the text and the accepted forms.
ConfigCondition parse_condition(const std::string& text);

/// Which runs `runs()` lists, in what order.
struct RunFilter {
  std::vector<std::int64_t> ids;          // only these runs (empty: any)
  std::optional<std::string> experiment;  // experiment name
  std::optional<std::string> sweep;       // sweep id or name
  std::optional<std::string> status;      // running, finished, failed, interrupted
  std::vector<ConfigCondition> where;
  std::optional<std::string> since, until;  // dates or timestamps, compared by prefix
  std::string sort = "run_id";              // a metric, a run_summary column or a config key
  bool ascending = false;
  std::optional<std::int64_t> limit;
  std::int64_t offset = 0;  // with limit: skip this many first (a page of the dashboard's runs)
};

class ResultsReader {
 public:
  /// Opens `location` (a file, read-only, or a postgresql:// URL). Throws StoreError for a missing
  /// file, a database that is not Trainyard's, or one written by a newer Trainyard; the database
  /// is never modified.
  explicit ResultsReader(const std::string& location);
  ~ResultsReader();
  ResultsReader(const ResultsReader&) = delete;
  ResultsReader& operator=(const ResultsReader&) = delete;

  /// Per-run metrics that runs can be sorted by and compared on (columns of run_summary).
  static const std::vector<std::string>& metrics();

  int schema_version() const { return schema_version_; }

  /// Runs matching `filter`, with the columns of run_summary most people want, plus one column
  /// per config key in `config_columns`.
  SqlRows runs(const RunFilter& filter, const std::vector<std::string>& config_columns = {}) const;
  /// One row per sweep: trials, finished trials, best run and its accuracy.
  SqlRows sweeps() const;
  /// The sweep id for "3" or a sweep name; throws InputError listing the sweeps when unknown.
  std::int64_t resolve_sweep(const std::string& id_or_name) const;
  /// Throws InputError ("no run 12 in FILE; runs are 1..9") when a run does not exist.
  void require_runs(const std::vector<std::int64_t>& ids) const;

  /// Everything stored about a run except its epochs: column name -> value.
  std::vector<std::pair<std::string, SqlValue>> run_fields(std::int64_t id) const;
  /// A run's flattened resolved config, by key.
  std::map<std::string, std::string> config(std::int64_t id) const;
  /// A run's epochs, all columns.
  SqlRows epochs(std::int64_t id) const;
  /// A run's evaluations (`runner --evaluate`), oldest first; none in a file older than schema 9.
  SqlRows evaluations(std::int64_t id) const;
  /// One evaluation's classes in order, with its run and figures: run_id, data, accuracy,
  /// checkpoint_epoch, class_name, predicted (the class's row of the confusion matrix, the counts
  /// predicted as each class, comma-separated), precision, recall, f1, support. Throws
  /// InputError for an unknown evaluation.
  SqlRows evaluation_classes(std::int64_t evaluation_id) const;
  /// Every epoch a sweep has trained, in the order they were committed: run_id, trial_key,
  /// status (of the run), epoch, selection_accuracy (on the run's select_on split), finished_at.
  /// What a search has bought for the epochs it spent (`results plot --history`). Throws
  /// InputError for an unknown sweep.
  SqlRows sweep_history(const std::string& sweep) const;
  /// Epochs of several runs (one row per run and epoch), with the run's experiment and trial.
  SqlRows export_epochs(const std::vector<std::int64_t>& ids) const;

  /// Side by side: one row per config key whose value differs between the runs (every key
  /// when `all_keys`), then the metrics; one column per run.
  SqlRows compare(const std::vector<std::int64_t>& ids, bool all_keys) const;

  /// Run ids matching `filter`, in its order.
  std::vector<std::int64_t> run_ids(const RunFilter& filter) const;

  const std::string& path() const { return path_; }
  /// The open connection, for copying the database whole (results_copy.h); never written to.
  SqlDatabase& database() const { return *db_; }

 private:
  std::string sort_expression(const std::string& sort, bool ascending) const;
  std::vector<std::string> config_keys() const;
  // The epochs' validation columns as `table`'s, or NULLs in a file older than schema 8.
  std::string val_columns(const std::string& table) const;

  std::string path_;
  std::unique_ptr<SqlDatabase> db_;
  int schema_version_ = 0;
};

}  // namespace trainyard
