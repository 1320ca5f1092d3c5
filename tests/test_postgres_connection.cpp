// The libpq connection under the PostgreSQL results store, against a real server started in a
// temporary folder for this suite.
#include <gtest/gtest.h>

#include <cstdlib>

#include "temporary_postgres.h"
#include "test_support.h"
#include "trainyard/errors.h"
#include "trainyard/store/postgres_connection.h"

namespace t = trainyard::testing;
using trainyard::PostgresConnection;

TEST(PostgresUrl, RecognizedAndRedacted) {
  EXPECT_TRUE(trainyard::is_postgres_url("postgresql://u@h:5432/db"));
  EXPECT_TRUE(trainyard::is_postgres_url("postgres://h/db"));
  EXPECT_FALSE(trainyard::is_postgres_url("results/trainyard.db"));
  EXPECT_EQ(trainyard::redact_postgres_url("postgresql://ann:s3cret@db.lab:5432/runs"),
            "postgresql://ann:***@db.lab:5432/runs");
  EXPECT_EQ(trainyard::redact_postgres_url("postgresql://db.lab/runs?user=ann&password=s3cret&sslmode=require"),
            "postgresql://db.lab/runs?user=ann&password=***&sslmode=require");
  EXPECT_EQ(trainyard::redact_postgres_url("postgresql://ann@db.lab/runs"), "postgresql://ann@db.lab/runs");
}

// A password holding '?' (libpq reads it up to the '@') escaped redaction: the pattern stopped
// at the '?' and left the whole URL as it was.
TEST(PostgresUrl, APasswordWithAQuestionMarkIsRedactedToo) {
  EXPECT_EQ(trainyard::redact_postgres_url("postgresql://ann:s3c?ret@db.lab:5432/runs"),
            "postgresql://ann:***@db.lab:5432/runs");
  EXPECT_EQ(trainyard::redact_postgres_url("postgresql://ann:a:b#c@db.lab/runs"), "postgresql://ann:***@db.lab/runs");
}

TEST(PostgresUrl, ThePasswordIsTakenOutDecodedAndTheRestKept) {
  std::string password;
  EXPECT_EQ(trainyard::without_postgres_password("postgresql://ann:s3c%3Fret@db.lab:5432/runs", &password),
            "postgresql://ann@db.lab:5432/runs");
  EXPECT_EQ(password, "s3c?ret");  // as libpq decodes it, for PGPASSWORD
  EXPECT_EQ(
      trainyard::without_postgres_password("postgresql://db.lab/runs?user=ann&password=pw&sslmode=require", &password),
      "postgresql://db.lab/runs?user=ann&sslmode=require");
  EXPECT_EQ(password, "pw");
  EXPECT_EQ(trainyard::without_postgres_password("postgresql://db.lab/runs?password=pw&user=ann"),
            "postgresql://db.lab/runs?user=ann");
  EXPECT_EQ(trainyard::without_postgres_password("postgresql://db.lab/runs?user=ann&password=pw"),
            "postgresql://db.lab/runs?user=ann");
  EXPECT_EQ(trainyard::without_postgres_password("postgresql://ann@db.lab/runs"), "postgresql://ann@db.lab/runs");
  EXPECT_EQ(trainyard::without_postgres_password("results/a:b@c.db"), "results/a:b@c.db");  // a file

  ::unsetenv("PGPASSWORD");
  EXPECT_EQ(trainyard::move_postgres_password_to_environment("postgres://u:pw1@h/db"), "postgres://u@h/db");
  ASSERT_NE(std::getenv("PGPASSWORD"), nullptr);
  EXPECT_STREQ(std::getenv("PGPASSWORD"), "pw1");
  ::unsetenv("PGPASSWORD");
}

TEST(Postgres, BoundParametersNullsAndRowsRoundTrip) {
  PostgresConnection db(t::database_for_this_test());
  db.exec_script(
      "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION);"
      "CREATE INDEX t_by_score ON t (score);");
  const auto inserted = db.exec("INSERT INTO t (name, score) VALUES ($1, $2), ($3, $4) RETURNING id",
                                {"it's \"quoted\"", "0.25", "no score", std::nullopt});
  ASSERT_EQ(inserted.rows(), 2);
  EXPECT_EQ(inserted.text(0, 0), "1");
  EXPECT_EQ(inserted.text(1, 0), "2");
  const auto rows = db.exec("SELECT name, score FROM t ORDER BY id");
  ASSERT_EQ(rows.rows(), 2);
  ASSERT_EQ(rows.columns(), 2);
  EXPECT_EQ(rows.text(0, 0), "it's \"quoted\"");  // parameters are never spliced into SQL
  EXPECT_EQ(rows.text(0, 1), "0.25");
  EXPECT_TRUE(rows.is_null(1, 1));
  EXPECT_EQ(rows.text(1, 1), std::nullopt);
  EXPECT_EQ(db.exec("UPDATE t SET score = 1 WHERE score IS NULL").affected_rows(), 1);
}

TEST(Postgres, RefusedStatementsCarryTheirSqlstateAndMessage) {
  PostgresConnection db(t::database_for_this_test());
  db.exec_script("CREATE TABLE u (k TEXT PRIMARY KEY)");
  db.exec("INSERT INTO u VALUES ($1)", {"a"});
  try {
    db.exec("INSERT INTO u VALUES ($1)", {"a"});
    FAIL() << "a duplicate key was accepted";
  } catch (const trainyard::PostgresError& e) {
    EXPECT_EQ(e.sqlstate(), "23505");  // unique_violation
    EXPECT_NE(std::string(e.what()).find("PostgreSQL refused 'INSERT INTO u VALUES ($1)' (SQLSTATE 23505)"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("duplicate key value violates unique constraint"), std::string::npos)
        << e.what();
  }
  try {
    db.exec("SELEC 1");
    FAIL() << "a syntax error was accepted";
  } catch (const trainyard::PostgresError& e) {
    EXPECT_EQ(e.sqlstate(), "42601");  // syntax_error
  }
  // The connection is still usable after refusals.
  EXPECT_EQ(db.exec("SELECT count(*) FROM u").text(0, 0), "1");
}

TEST(Postgres, SkipLockedHandsEachRowToOneTransaction) {
  // What sweep workers will claim trials with: two sessions, each takes the next unclaimed row.
  const std::string url = t::database_for_this_test();
  PostgresConnection first(url), second(url);
  first.exec_script(
      "CREATE TABLE trials (id INTEGER PRIMARY KEY, owner TEXT);"
      "INSERT INTO trials (id) VALUES (1), (2), (3);");
  const std::string claim = "SELECT id FROM trials WHERE owner IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
  first.exec_script("BEGIN");
  second.exec_script("BEGIN");
  const auto a = first.exec(claim);
  const auto b = second.exec(claim);  // does not wait for the first's lock
  ASSERT_EQ(a.rows(), 1);
  ASSERT_EQ(b.rows(), 1);
  EXPECT_EQ(a.text(0, 0), "1");
  EXPECT_EQ(b.text(0, 0), "2");
  first.exec("UPDATE trials SET owner = 'first' WHERE id = $1", {a.text(0, 0)});
  second.exec("UPDATE trials SET owner = 'second' WHERE id = $1", {b.text(0, 0)});
  first.exec_script("COMMIT");
  second.exec_script("COMMIT");
  EXPECT_EQ(first.exec("SELECT string_agg(coalesce(owner, '-'), ',' ORDER BY id) FROM trials").text(0, 0),
            "first,second,-");
}

TEST(Postgres, UnreachableServerIsAStoreErrorWithoutThePassword) {
  try {
    PostgresConnection db("postgresql://ann:s3cret@127.0.0.1:" + std::to_string(t::shared_postgres().port()) +
                          "/no_such_db?connect_timeout=5");
    FAIL() << "connected to a database that does not exist";
  } catch (const trainyard::StoreError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Cannot connect to the PostgreSQL results store 'postgresql://ann:***@127.0.0.1:"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
  }
}
