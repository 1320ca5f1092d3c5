#include "trainyard/store/postgres_connection.h"

#include <libpq-fe.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <string>

#include "trainyard/errors.h"
#include "trainyard/store/sql_database.h"

namespace trainyard {
namespace {

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Throws PostgresError unless `result` says the statement ran; frees it then.
pg_result* checked(pg_conn* connection, pg_result* result, const std::string& sql) {
  const auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) return result;
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state ? state : "";
  const std::string message = trimmed(result ? PQresultErrorMessage(result) : PQerrorMessage(connection));
  if (result) PQclear(result);
  throw PostgresError("PostgreSQL refused '" + statement_head(sql) + "'" +
                          (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")") + ": " + message,
                      sqlstate);
}

}  // namespace

bool is_postgres_url(const std::string& text) {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

namespace {

// scheme://user:password@host: libpq reads the user and password up to the first '@' before any
// '/', so a password may hold '?', ':' or '#' (it did escape redaction with a '?'); and a
// password=... parameter of the query string.
const std::regex& password_in_authority() {
  static const std::regex pattern(R"(^(postgres(?:ql)?://[^:/@]*):([^@/]*)@)");
  return pattern;
}
const std::regex& password_in_query() {
  static const std::regex pattern(R"(([?&])password=([^&]*)(&?))");
  return pattern;
}

std::string percent_decoded(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

std::string redact_postgres_url(const std::string& url) {
  return std::regex_replace(std::regex_replace(url, password_in_authority(), "$1:***@"), password_in_query(),
                            "$1password=***$3");
}

std::string without_postgres_password(const std::string& url, std::string* password) {
  if (!is_postgres_url(url)) return url;
  std::string out = url;
  std::smatch match;
  if (std::regex_search(url, match, password_in_authority())) {
    if (password) *password = percent_decoded(match[2].str());
    out = match[1].str() + "@" + match.suffix().str();
  }
  const std::string before_query = out;
  if (std::regex_search(before_query, match, password_in_query())) {
    if (password) *password = percent_decoded(match[2].str());
    // "?password=x&a=b" keeps "?a=b"; "?a=b&password=x" keeps "?a=b"
    const std::string lead = match[1].str() == "?" ? (match[3].length() ? "?" : "") : (match[3].length() ? "&" : "");
    out = match.prefix().str() + lead + match.suffix().str();
  }
  return out;
}

std::string move_postgres_password_to_environment(const std::string& location) {
  std::string password;
  const std::string url = without_postgres_password(location, &password);
  if (url != location) ::setenv("PGPASSWORD", password.c_str(), 1);
  return url;
}

void move_postgres_passwords_out_of_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    std::size_t at = argument.find("postgresql://");
    if (at == std::string::npos) at = argument.find("postgres://");
    if (at == std::string::npos) continue;
    const std::string url = move_postgres_password_to_environment(argument.substr(at));
    const std::string scrubbed = argument.substr(0, at) + url;
    if (scrubbed == argument) continue;
    // Shorter than the original: written over it, the rest zeroed, so the old text is gone.
    std::memset(argv[i], 0, argument.size());
    std::memcpy(argv[i], scrubbed.data(), scrubbed.size());
  }
}

std::string redact_location(const std::string& location) {
  return is_postgres_url(location) ? redact_postgres_url(location) : location;
}

PostgresError::~PostgresError() = default;

PostgresResult::PostgresResult(pg_result* result) : result_(result) {}
PostgresResult::~PostgresResult() {
  if (result_) PQclear(result_);
}
PostgresResult::PostgresResult(PostgresResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
PostgresResult& PostgresResult::operator=(PostgresResult&& other) noexcept {
  if (this != &other) {
    if (result_) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}
int PostgresResult::rows() const { return PQntuples(result_); }
int PostgresResult::columns() const { return PQnfields(result_); }
std::string PostgresResult::column_name(int column) const { return PQfname(result_, column); }
unsigned PostgresResult::column_type(int column) const { return PQftype(result_, column); }
bool PostgresResult::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }
std::optional<std::string> PostgresResult::text(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return std::string(PQgetvalue(result_, row, column), static_cast<std::size_t>(PQgetlength(result_, row, column)));
}
long PostgresResult::affected_rows() const {
  const char* count = PQcmdTuples(result_);
  return count && *count ? std::atol(count) : 0;
}

PostgresConnection::PostgresConnection(const std::string& url) : url_(redact_postgres_url(url)) {
  connection_ = PQconnectdb(url.c_str());
  if (PQstatus(connection_) != CONNECTION_OK) {
    const std::string reason = trimmed(PQerrorMessage(connection_));
    PQfinish(connection_);
    connection_ = nullptr;
    throw StoreError("Cannot connect to the PostgreSQL results store '" + url_ + "': " + reason);
  }
  // Notices (e.g. "relation already exists, skipping") are not the user's concern.
  PQsetNoticeProcessor(
      connection_, [](void*, const char*) {}, nullptr);
}

PostgresConnection::~PostgresConnection() {
  if (connection_) PQfinish(connection_);
}

PostgresResult PostgresConnection::exec(const std::string& sql,
                                        const std::vector<std::optional<std::string>>& parameters) {
  std::vector<const char*> values;
  values.reserve(parameters.size());
  for (const auto& p : parameters) values.push_back(p ? p->c_str() : nullptr);
  return PostgresResult(checked(connection_,
                                PQexecParams(connection_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                             values.data(), nullptr, nullptr, /*resultFormat=*/0),
                                sql));
}

bool PostgresConnection::lost() const { return PQstatus(connection_) == CONNECTION_BAD; }

void PostgresConnection::reconnect() {
  PQreset(connection_);
  if (PQstatus(connection_) != CONNECTION_OK) {
    throw StoreError("Lost the PostgreSQL results store '" + url_ +
                     "' and cannot reconnect: " + trimmed(PQerrorMessage(connection_)));
  }
}

void PostgresConnection::exec_script(const std::string& sql) {
  PostgresResult(checked(connection_, PQexec(connection_, sql.c_str()), sql));
}

}  // namespace trainyard
