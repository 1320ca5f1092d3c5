// Evaluations of a run's checkpoints: kept with their per-class figures and confusion matrix,
// and read back whole.
#include <sstream>

#include "store_sql.h"
#include "trainyard/errors.h"
#include "trainyard/store/results_store.h"
#include "trainyard/system/utf8.h"

namespace trainyard {

using namespace store_sql;  // the store's shared SQL helpers

namespace {

std::string comma_separated(const std::vector<std::int64_t>& counts) {
  std::string text;
  for (std::size_t i = 0; i < counts.size(); ++i) text += (i ? "," : "") + std::to_string(counts[i]);
  return text;
}

std::vector<std::int64_t> parse_counts(const std::string& text, std::int64_t evaluation_id) {
  std::vector<std::int64_t> counts;
  std::istringstream in(text);
  for (std::string field; std::getline(in, field, ',');) {
    try {
      counts.push_back(std::stoll(field));
    } catch (const std::exception&) {
      throw StoreError("evaluation " + std::to_string(evaluation_id) + ": a confusion-matrix row reads '" + text +
                       "', not counts separated by commas");
    }
  }
  return counts;
}

}  // namespace

std::int64_t ResultsStore::record_evaluation(std::int64_t run_id, const EvaluationRecord& e) {
  SqlWriteTransaction transaction(*db_);
  const auto id =
      db_->query(R"sql(
    INSERT INTO evaluations (run_id, created_at, checkpoint, checkpoint_epoch, data, images, loss, accuracy,
                             top5_accuracy, device, precision)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id)sql",
                 {run_id, utc_timestamp(), valid_utf8(e.checkpoint), e.checkpoint_epoch, valid_utf8(e.data), e.images,
                  e.loss, e.accuracy, real_or_null(e.top5_accuracy), text_or_null(e.device), text_or_null(e.precision)})
          .integer(0, 0);
  for (std::size_t c = 0; c < e.per_class.size(); ++c) {
    const ClassFigures& f = e.per_class[c];
    db_->query(R"sql(
      INSERT INTO evaluation_classes (evaluation_id, class_index, class_name, precision, recall, f1, support, predicted)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?))sql",
               {id, static_cast<std::int64_t>(c), valid_utf8(f.name), f.precision, f.recall, f.f1, f.support,
                comma_separated(c < e.confusion.size() ? e.confusion[c] : std::vector<std::int64_t>{})});
  }
  transaction.commit();
  return id;
}

std::vector<EvaluationRecord> ResultsStore::evaluations(std::int64_t run_id) const {
  const auto rows = db_->query(R"sql(
    SELECT id, checkpoint, coalesce(checkpoint_epoch, 0), data, images, loss, accuracy, top5_accuracy,
           coalesce(device, ''), coalesce(precision, '')
    FROM evaluations WHERE run_id = ? ORDER BY id)sql",
                               {run_id});
  std::vector<EvaluationRecord> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EvaluationRecord e;
    const auto id = rows.integer(i, 0);
    e.checkpoint = rows.text(i, 1);
    e.checkpoint_epoch = rows.integer(i, 2);
    e.data = rows.text(i, 3);
    e.images = rows.integer(i, 4);
    e.loss = rows.real(i, 5);
    e.accuracy = rows.real(i, 6);
    if (!rows.is_null(i, 7)) e.top5_accuracy = rows.real(i, 7);
    e.device = rows.text(i, 8);
    e.precision = rows.text(i, 9);
    const auto classes = db_->query(R"sql(
      SELECT class_name, precision, recall, f1, support, predicted
      FROM evaluation_classes WHERE evaluation_id = ? ORDER BY class_index)sql",
                                    {id});
    for (std::size_t c = 0; c < classes.size(); ++c) {
      e.per_class.push_back(ClassFigures{classes.text(c, 0), classes.real(c, 1), classes.real(c, 2), classes.real(c, 3),
                                         classes.integer(c, 4)});
      e.confusion.push_back(parse_counts(classes.text(c, 5), id));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace trainyard
