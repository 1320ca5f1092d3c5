#include "trainyard/errors.h"

#include <c10/util/Exception.h>

namespace trainyard {
Error::~Error() = default;
InputError::~InputError() = default;
ConfigError::~ConfigError() = default;
PluginError::~PluginError() = default;
StoreError::~StoreError() = default;

std::string exception_message(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}
}  // namespace trainyard
