// The dashboard (`results serve`): its JSON API answered as the CLI answers (the same names, the
// same messages, bound parameters), the real server over HTTP leaving the database byte-identical,
// and its pages loaded and drawn in headless Chromium, with screenshots.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include <nlohmann/json.hpp>

#include "dashboard.h"
#include "output_format.h"
#include "synthetic_results.h"
#include "temporary_postgres.h"
#include "test_support.h"
#include "trainyard/store/results_copy.h"
#include "trainyard/store/results_reader.h"
#include "trainyard/store/results_store.h"
#include "trainyard/system/child_process.h"

namespace t = trainyard::testing;
namespace tr = trainyard::results;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kRuns = 30, kEpochs = 5;  // the first 12 runs: the sweep "synthetic-lr"

class Dashboard : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new t::TempDir();
    tr::write_synthetic_results(db(), kRuns, kEpochs, 5);
    trainyard::ResultsStore(db()).record_evaluation(3, evaluation());  // evaluation 1, of run 3
  }
  static trainyard::EvaluationRecord evaluation() {
    trainyard::EvaluationRecord e;
    e.checkpoint = "/runs/run-3/best.pt";
    e.checkpoint_epoch = 5;
    e.data = "test";
    e.images = 30;
    e.accuracy = 0.8;
    e.per_class = {{"shirt", 0.9, 0.9, 0.9, 10}, {"trouser", 0.7, 0.8, 0.75, 10}, {"dress", 0.8, 0.7, 0.75, 10}};
    e.confusion = {{9, 1, 0}, {1, 8, 1}, {0, 3, 7}};
    e.device = "cpu";
    e.precision = "fp32";
    return e;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db() { return (*dir_ / "runs.db").string(); }
  static tr::HttpAnswer get(const std::string& path, const tr::QueryParameters& query = {}) {
    const trainyard::ResultsReader reader(db());
    return tr::answer_request(reader, path, query);
  }
  static nlohmann::json json(const tr::HttpAnswer& answer) { return nlohmann::json::parse(answer.body); }
  static t::TempDir* dir_;
};
t::TempDir* Dashboard::dir_ = nullptr;

std::vector<std::int64_t> run_ids(const nlohmann::json& rows) {
  std::vector<std::int64_t> ids;
  for (const auto& row : rows) ids.push_back(row.at("run_id").get<std::int64_t>());
  return ids;
}

TEST_F(Dashboard, RunsAreTheCliJsonPagedSortedAndFilteredInSql) {
  const auto first = get("/api/runs", {{"sort", "run_id"}, {"order", "asc"}, {"limit", "10"}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.content_type, "application/json");
  // The same document `results runs --format json` writes for the same filter.
  trainyard::RunFilter filter;
  filter.sort = "run_id";
  filter.ascending = true;
  filter.limit = 10;
  std::ostringstream cli;
  tr::write_table(cli, trainyard::ResultsReader(db()).runs(filter), tr::Format::kJson);
  EXPECT_EQ(first.body, cli.str());
  EXPECT_EQ(run_ids(json(first)), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  const auto third = get("/api/runs", {{"sort", "run_id"}, {"order", "asc"}, {"limit", "10"}, {"offset", "20"}});
  EXPECT_EQ(run_ids(json(third)).front(), 21);
  EXPECT_EQ(json(third).size(), 10u);

  // A sweep's trials with lr 1e-3, best first, with the swept key as a column.
  const auto filtered = json(get("/api/runs", {{"sweep", "synthetic-lr"},
                                               {"where", "optimizer.lr=0.001"},
                                               {"sort", "best_test_accuracy"},
                                               {"show", "optimizer.lr,train.batch_size"}}));
  ASSERT_EQ(filtered.size(), 3u);  // runs 3, 7, 11 of the 12
  for (std::size_t i = 0; i < filtered.size(); ++i) {
    EXPECT_EQ(filtered[i].at("optimizer.lr"), "0.001");
    if (i) {
      EXPECT_GE(filtered[i - 1].at("best_test_accuracy"), filtered[i].at("best_test_accuracy"));
    }
  }
}

TEST_F(Dashboard, ARunItsEpochsSweepsAndComparisonAreTheCliDocuments) {
  const auto run = json(get("/api/runs/3"));
  EXPECT_EQ(run.at("run").at("id"), 3);
  EXPECT_EQ(run.at("epochs").size(), static_cast<std::size_t>(kEpochs));
  EXPECT_EQ(run.at("config").at("optimizer.lr"), "0.001");
  const auto epochs = json(get("/api/runs/3/epochs"));
  EXPECT_EQ(epochs, run.at("epochs"));
  const auto sweeps = json(get("/api/sweeps"));
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].at("sweep"), "synthetic-lr");
  EXPECT_EQ(sweeps[0].at("trials"), 12);
  EXPECT_EQ(json(get("/api/sweeps/synthetic-lr/history")).size(), static_cast<std::size_t>(12 * kEpochs));
  const auto compared = json(get("/api/compare", {{"ids", "1,2"}}));
  EXPECT_FALSE(compared.empty());
  EXPECT_EQ(json(get("/api/metrics")).front(), trainyard::ResultsReader::metrics().front());
}

TEST_F(Dashboard, FiguresComeFromTheResultsToolsPlottingCodeAsSvg) {
  const auto classes = json(get("/api/evaluations/1"));
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_EQ(classes[1].at("class_name"), "trouser");
  EXPECT_EQ(classes[1].at("predicted"), "1,8,1");
  EXPECT_DOUBLE_EQ(classes[1].at("recall").get<double>(), 0.8);
  for (const char* figure :
       {"/api/evaluations/1/confusion.svg", "/api/sweeps/1/parallel.svg", "/api/sweeps/synthetic-lr/parallel.svg"}) {
    const auto svg = get(figure);
    EXPECT_EQ(svg.status, 200) << figure << ": " << svg.body.substr(0, 300);
    EXPECT_EQ(svg.content_type, "image/svg+xml");
    EXPECT_NE(svg.body.find("<svg"), std::string::npos) << figure;
    EXPECT_GT(svg.body.size(), 2000u) << figure;
  }
}

TEST_F(Dashboard, BadRequestsGetTheCliMessageAsA4xxNeverA500) {
  struct Case {
    std::string path;
    tr::QueryParameters query;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"/api/runs/999", {}, 404, "no run 999"},
      {"/api/runs/abc/epochs", {}, 404, "no run 'abc'"},
      {"/api/runs", {{"sort", "best_test_acuracy"}}, 400, "did you mean 'best_test_accuracy'"},
      {"/api/runs", {{"where", "optimizer.lr'; DROP TABLE runs; --=1"}}, 400, "no run in"},
      {"/api/runs", {{"where", "no operator"}}, 400, "where"},
      {"/api/runs", {{"show", "optimizer.lrr"}}, 400, "did you mean 'optimizer.lr'"},
      {"/api/runs", {{"status", "done"}}, 400, "accepted"},
      {"/api/runs", {{"limit", "0"}}, 400, "limit='0'"},
      {"/api/runs", {{"limit", "1; DELETE FROM runs"}}, 400, "whole number"},
      {"/api/runs", {{"sortt", "run_id"}}, 400, "unknown parameter 'sortt'"},
      {"/api/runs", {{"sweep", "nope"}}, 400, "no such sweep"},
      {"/api/sweeps/nope/history", {}, 404, "no such sweep"},
      {"/api/compare", {{"ids", "1"}}, 400, "two run ids"},
      {"/api/compare", {{"ids", "1,77"}}, 404, "no run 77"},
      {"/api/evaluations/9", {}, 404, "no evaluation 9"},
      {"/api/evaluations/x/confusion.svg", {}, 404, "no evaluation 'x'"},
      {"/api/sweeps/nope/parallel.svg", {}, 404, "no such sweep"},
      {"/api/sweeps/1/parallel.svg", {{"metric", "best_tset_accuracy"}}, 400, "best_tset_accuracy"},
      {"/api/nothing", {}, 404, "no API"},
      {"/nothing", {}, 404, "no page"},
  };
  for (const auto& c : cases) {
    const auto answer = get(c.path, c.query);
    EXPECT_EQ(answer.status, c.status) << c.path << ": " << answer.body;
    EXPECT_NE(json(answer).at("error").get<std::string>().find(c.says), std::string::npos)
        << c.path << ": " << answer.body;
  }
}

TEST_F(Dashboard, PagesAndTheChartLibraryAreServedFromTheBinary) {
  for (const char* page : {"/", "/runs", "/runs/3", "/sweeps", "/sweeps/1", "/compare"}) {
    const auto answer = get(page);
    EXPECT_EQ(answer.status, 200) << page;
    EXPECT_NE(answer.body.find("/static/app.js"), std::string::npos) << page;
  }
  const auto chart_library = get("/static/vendor/uplot/uPlot.iife.min.js");
  EXPECT_EQ(chart_library.status, 200);
  EXPECT_EQ(chart_library.content_type, "text/javascript; charset=utf-8");
  EXPECT_GT(chart_library.body.size(), 40000u);
  EXPECT_NE(get("/static/vendor/uplot/LICENSE").body.find("MIT"), std::string::npos);
}

// ---- the real server, over HTTP and in Chromium

// `results serve --port 0` on the database, stopped at the end.
class Server {
 public:
  explicit Server(const std::string& db, const fs::path& log) : log_(log) {
    trainyard::ChildOptions options;
    options.output = log;
    pid_ = trainyard::spawn_child({TRAINYARD_RESULTS_PATH, "--db", db, "serve", "--port", "0"}, options);
    const std::regex listening(R"(dashboard: (http://127\.0\.0\.1:([0-9]+))/)");
    std::smatch m;
    std::string text;
    t::wait_until(
        [&] {
          text = t::read_file(log);
          return std::regex_search(text, m, listening);
        },
        30);
    if (m.empty()) throw std::runtime_error("results serve did not start: " + text);
    url_ = m[1];
    port_ = std::stoi(m[2]);
  }
  ~Server() {
    ::kill(pid_, SIGTERM);
    t::wait_for_exit(pid_, 10);  // and reaps it
  }
  const std::string& url() const { return url_; }
  int port() const { return port_; }

 private:
  fs::path log_;
  pid_t pid_ = 0;
  std::string url_;
  int port_ = 0;
};

TEST_F(Dashboard, TheServerAnswersBadRequestsWith4xxAndNeverChangesTheDatabase) {
  const std::string before = t::read_file(db());
  t::TempDir here;
  const Server server(db(), here / "serve.log");
  httplib::Client client("127.0.0.1", server.port());
  const auto runs = client.Get("/api/runs?sort=best_test_accuracy&where=train.batch_size%3E%3D32&limit=5");
  ASSERT_TRUE(runs);
  EXPECT_EQ(runs->status, 200) << runs->body;
  EXPECT_EQ(nlohmann::json::parse(runs->body).size(), 5u);
  const auto injected = client.Get("/api/runs?where=optimizer.lr%3D1'%20OR%20'1'%3D'1&sort=run_id;DROP%20TABLE%20runs");
  ASSERT_TRUE(injected);
  EXPECT_EQ(injected->status, 400) << injected->body;
  const auto unknown = client.Get("/api/runs/123456");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  const auto oversized = client.Get("/api/runs?where=" + std::string(20000, 'x'));
  ASSERT_TRUE(oversized);
  EXPECT_GE(oversized->status, 400);
  EXPECT_LT(oversized->status, 500);
  // Sent uncompressed, whatever the browser accepts: brotli at httplib's default quality took
  // 1.4 s of a 1,000-epoch run page's 1.7 s in Chromium.
  const auto run = client.Get("/api/runs/3", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 200);
  EXPECT_FALSE(run->has_header("Content-Encoding")) << run->get_header_value("Content-Encoding");
  EXPECT_EQ(nlohmann::json::parse(run->body).at("run").at("id"), 3);
  const auto written = client.Post("/api/runs", "{}", "application/json");
  ASSERT_TRUE(written);
  EXPECT_EQ(written->status, 405);
  EXPECT_EQ(t::read_file(db()), before) << "the database changed under the dashboard";
}

// The same database on PostgreSQL: the same answers (a cluster's shared store, served as is).
TEST_F(Dashboard, ServesAPostgresStoreAsItServesAFile) {
  const std::string url = t::database_for_this_test();
  trainyard::copy_results(trainyard::ResultsReader(db()), url);
  t::TempDir here;
  const Server server(url, here / "serve.log");
  httplib::Client client("127.0.0.1", server.port());
  for (const std::string path :
       {"/api/runs?sort=best_test_accuracy&where=optimizer.lr%3D0.001&limit=5", "/api/sweeps", "/api/evaluations/1"}) {
    const auto answer = client.Get(path.c_str());
    ASSERT_TRUE(answer) << path;
    EXPECT_EQ(answer->status, 200) << path << ": " << answer->body;
    const auto from_file = json(get(
        path.substr(0, path.find('?')),
        path.find('?') == std::string::npos
            ? tr::QueryParameters{}
            : tr::QueryParameters{{"sort", "best_test_accuracy"}, {"where", "optimizer.lr=0.001"}, {"limit", "5"}}));
    const auto from_server = nlohmann::json::parse(answer->body);
    ASSERT_EQ(from_server.size(), from_file.size()) << path;
    for (std::size_t i = 0; i < from_file.size(); ++i) {
      for (const char* key : {"run_id", "sweep_id", "trials", "class_name", "predicted"}) {
        if (from_file[i].contains(key)) {
          EXPECT_EQ(from_server[i].at(key), from_file[i].at(key)) << path << " " << key;
        }
      }
    }
  }
  const auto unknown = client.Get("/api/runs/999");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const auto found = t::run_command(std::string("command -v ") + name);
    if (found.exit_code == 0) return found.output.substr(0, found.output.find('\n'));
  }
  return "";
}

// Loads `url` in headless Chromium, lets its scripts run, and returns the DOM; with `screenshot`,
// also saves the page as a PNG there.
std::string load_in_browser(const std::string& browser, const std::string& url, const fs::path& profile,
                            const fs::path& screenshot = {}) {
  const std::string common = t::shell_quote(browser) +
                             " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage" +
                             " --no-first-run --user-data-dir=" + t::shell_quote(profile.string()) +
                             " --virtual-time-budget=8000 --window-size=1280,1000 ";
  if (!screenshot.empty()) {
    t::run_command(common + "--screenshot=" + t::shell_quote(screenshot.string()) + " " + t::shell_quote(url) +
                   " 2>/dev/null");
  }
  return t::run_command(common + "--dump-dom " + t::shell_quote(url) + " 2>/dev/null").output;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST_F(Dashboard, EveryPageLoadsAndDrawsInHeadlessChromium) {
  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "no Chromium here (scripts/install-deps.sh installs Debian's chromium)";
  t::TempDir here;
  const Server server(db(), here / "serve.log");
  const fs::path shots = fs::path(TRAINYARD_BINARY_DIR) / "dashboard-screenshots";
  fs::create_directories(shots);

  const auto runs = load_in_browser(browser, server.url() + "/runs?sort=run_id&order=asc&limit=20", here / "profile",
                                    shots / "runs.png");
  EXPECT_EQ(count(runs, "data-run-id=\""), 20u) << runs.substr(0, 2000);
  EXPECT_NE(runs.find("<tr class=\"finished\" data-run-id=\"1\">"), std::string::npos);
  EXPECT_NE(runs.find("Next page"), std::string::npos);

  const auto run = load_in_browser(browser, server.url() + "/runs/3", here / "profile", shots / "run.png");
  EXPECT_NE(run.find("data-state=\"drawn\""), std::string::npos) << run.substr(0, 2000);
  EXPECT_NE(run.find("data-epochs=\"5\""), std::string::npos);
  EXPECT_GE(count(run, "<canvas"), 2u) << "the loss and accuracy charts";
  EXPECT_NE(run.find("Evaluation 1"), std::string::npos);
  EXPECT_NE(run.find("src=\"/api/evaluations/1/confusion.svg\" alt=\"Confusion matrix of evaluation 1"),
            std::string::npos);
  EXPECT_NE(run.find("data-loaded=\"true\""), std::string::npos) << "the confusion matrix did not load";

  const auto sweep = load_in_browser(browser, server.url() + "/sweeps/1", here / "profile", shots / "sweep.png");
  EXPECT_NE(sweep.find("data-rows=\"12\""), std::string::npos) << sweep.substr(0, 2000);
  EXPECT_GE(count(sweep, "<canvas"), 3u) << "lr, seed and best so far";
  EXPECT_NE(sweep.find("src=\"/api/sweeps/1/parallel.svg\""), std::string::npos);
  EXPECT_NE(sweep.find("data-loaded=\"true\""), std::string::npos) << "the parallel coordinates did not load";

  const auto compare =
      load_in_browser(browser, server.url() + "/compare?ids=1,2", here / "profile", shots / "compare.png");
  EXPECT_NE(compare.find("data-state=\"drawn\""), std::string::npos) << compare.substr(0, 2000);

  const auto missing = load_in_browser(browser, server.url() + "/runs/999", here / "profile");
  EXPECT_NE(missing.find("no run 999"), std::string::npos) << missing.substr(0, 2000);
  for (const char* shot : {"runs.png", "run.png", "sweep.png", "compare.png"}) {
    EXPECT_GT(fs::file_size(shots / shot), 10000u) << shot;
  }
}

// A running run's page redraws as its epochs are committed. The server is this test's own (the
// dashboard's handler behind httplib), so the epochs arrive exactly when the page first polls.
TEST_F(Dashboard, ARunningRunsPageRedrawsAsItsEpochsAreCommitted) {
  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "no Chromium here (scripts/install-deps.sh installs Debian's chromium)";
  t::TempDir here;
  const std::string live = (here / "live.db").string();
  tr::write_synthetic_results(live, 1, 3, 9);
  {
    SQLite::Database db(live, SQLite::OPEN_READWRITE);
    db.exec("CREATE TABLE later AS SELECT * FROM epochs WHERE epoch > 1");
    db.exec("DELETE FROM epochs WHERE epoch > 1");
    db.exec("UPDATE runs SET status = 'running', ended_at = NULL");
  }
  const trainyard::ResultsReader reader(live);
  std::mutex reading;
  bool committed = false;
  httplib::Server server;
  server.Get(".*", [&](const httplib::Request& request, httplib::Response& response) {
    const std::lock_guard<std::mutex> lock(reading);
    if (request.path == "/api/runs/1/epochs" && !committed) {  // the page's first poll: two epochs and the end
      SQLite::Database db(live, SQLite::OPEN_READWRITE);
      db.exec("INSERT INTO epochs SELECT * FROM later");
      db.exec("UPDATE runs SET status = 'finished', ended_at = started_at");
      committed = true;
    }
    const auto answer = tr::answer_request(reader, request.path, request.params);
    response.status = answer.status;
    response.set_content(answer.body, answer.content_type.c_str());
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  const auto dom = load_in_browser(browser, "http://127.0.0.1:" + std::to_string(port) + "/runs/1", here / "profile");
  server.stop();
  serving.join();
  EXPECT_TRUE(committed) << "the page never polled its epochs";
  EXPECT_NE(dom.find("Run 1: synthetic (finished)"), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("data-epochs=\"3\""), std::string::npos) << dom.substr(0, 2000);
}

}  // namespace
