#include "trainyard/errors.h"

namespace trainyard {
InputError::~InputError() = default;
ConfigError::~ConfigError() = default;
PluginError::~PluginError() = default;
StoreError::~StoreError() = default;
}  // namespace trainyard
