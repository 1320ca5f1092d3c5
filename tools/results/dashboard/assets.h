// The dashboard's files (web/), built into the results tool by cmake/embed_assets.cmake: the
// pages work from the binary alone, offline.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace trainyard::results {

/// The bytes of the file served at `path` ("/static/app.js"); nullopt for any other path.
std::optional<std::string_view> find_asset(const std::string& path);

}  // namespace trainyard::results
