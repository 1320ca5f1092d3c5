// Exception types the host throws. Each carries a complete message for the user: what was wrong,
// where (file, key, line), and what would be right.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace trainyard {

/// What Trainyard throws for its users to catch, with the whole reason in what(): the base of
/// the errors below (and what the Predictor of trainyard/predictor.h throws).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~Error() override;
};

/// Bad input the user can fix: an experiment file, a plugin, a database file, a dataset folder, a
/// model package. The runner exits with kExitBadInput and writes nothing.
class InputError : public Error {
 public:
  using Error::Error;
  ~InputError() override;
};

/// A malformed or invalid experiment configuration.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
  ~ConfigError() override;
};

/// A plugin that cannot be loaded, is incompatible, or is not found.
class PluginError : public InputError {
 public:
  using InputError::InputError;
  ~PluginError() override;
};

/// A results database that cannot be used (not Trainyard's, newer schema, unwritable).
class StoreError : public InputError {
 public:
  using InputError::InputError;
  ~StoreError() override;
};

/// The message of any exception: c10::Error without its C++ backtrace, std::exception's what(),
/// or a note that it was something else.
std::string exception_message(const std::exception_ptr& error);

/// Process exit codes of the runner, documented in the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitRunFailed = 1,      // the run started and failed; its row says why
  kExitBadInput = 2,       // nothing was started: fix the input named in the message
  kExitInterrupted = 130,  // stopped by SIGINT/SIGTERM; the run is marked interrupted
};

}  // namespace trainyard
