// Plugin discovery and loading: real plugins load; stale, foreign, broken and duplicate ones are
// refused with messages that name the file and what is wrong; plugin exceptions are contained.
#include <gtest/gtest.h>

#include <cstdlib>

#include <trainyard/errors.h>
#include <trainyard/plugin/plugin_registry.h>

#include "test_support.h"

using trainyard::PluginError;
using trainyard::PluginKind;
using trainyard::PluginRegistry;
namespace fs = std::filesystem;
namespace t = trainyard::testing;

namespace {
fs::path fixture_file(const std::string& case_name) {
  return t::fixture_plugin_dir(case_name) / ("fixture_" + case_name + ".so");
}

std::string load_error(PluginRegistry& registry, const fs::path& file) {
  try {
    registry.load(file);
  } catch (const PluginError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no PluginError for " << file;
  return "";
}
}  // namespace

TEST(PluginRegistry, DiscoversTheBuiltPlugins) {
  PluginRegistry registry;
  registry.discover({t::plugin_dir()});
  EXPECT_EQ(registry.names(PluginKind::kModel),
            (std::vector<std::string>{"resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "small_cnn"}));
  EXPECT_EQ(registry.names(PluginKind::kDataset), (std::vector<std::string>{"idx", "imagefolder"}));
  EXPECT_EQ(registry.names(PluginKind::kOptimizer), (std::vector<std::string>{"adam", "adamw", "sgd"}));
  EXPECT_TRUE(registry.rejected().empty());
  const auto& adam = registry.find(PluginKind::kOptimizer, "adam");
  EXPECT_EQ(adam.version(), "1.0.0");
  ASSERT_FALSE(adam.schema.empty());
  EXPECT_EQ(adam.schema.front().name, "lr");
}

TEST(PluginRegistry, SearchPathIncludesEnvironmentFolders) {
  setenv("TRAINYARD_PLUGIN_PATH", "/tmp/a:/tmp/b", 1);
  const auto folders = trainyard::plugin_search_path({"/tmp/c"});
  unsetenv("TRAINYARD_PLUGIN_PATH");
  ASSERT_EQ(folders.size(), 4u);
  EXPECT_EQ(folders[1], "/tmp/a");
  EXPECT_EQ(folders[2], "/tmp/b");
  EXPECT_EQ(folders[3], "/tmp/c");
}

TEST(PluginRegistry, WrongApiVersionIsRefusedWithBothVersions) {
  PluginRegistry registry;
  const std::string message = load_error(registry, fixture_file("wrong_api_version"));
  const std::string expected = "Wrong API version on plugin 'stale' (" + fixture_file("wrong_api_version").string() +
                               "). Got " + std::to_string(trainyard::kPluginApiVersion + 1) + ", supported " +
                               std::to_string(trainyard::kPluginApiVersion) + ".";
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  EXPECT_TRUE(registry.names(PluginKind::kModel).empty());
}

TEST(PluginRegistry, OtherLibTorchBuildIsRefused) {
  PluginRegistry registry;
  const std::string message = load_error(registry, fixture_file("wrong_fingerprint"));
  EXPECT_NE(message.find("was built for libtorch 0.4.0, C++11 ABI 0"), std::string::npos) << message;
  EXPECT_NE(message.find(std::string("this Trainyard accepts ") + trainyard::host_build_fingerprint()),
            std::string::npos)
      << message;
}

TEST(PluginRegistry, LibraryWithoutEntryPointIsNotAPlugin) {
  PluginRegistry registry;
  const std::string message = load_error(registry, fixture_file("not_a_plugin"));
  EXPECT_NE(message.find("is not a Trainyard plugin"), std::string::npos) << message;
  EXPECT_NE(message.find("trainyard_plugin"), std::string::npos) << message;
}

TEST(PluginRegistry, FileThatIsNoLibraryIsRefused) {
  t::TempDir dir;
  t::write_file(dir / "libjunk.so", "this is not an ELF file\n");
  PluginRegistry registry;
  const std::string message = load_error(registry, dir / "libjunk.so");
  EXPECT_NE(message.find("Cannot load plugin library '" + (dir / "libjunk.so").string() + "'"), std::string::npos)
      << message;
}

TEST(PluginRegistry, DiscoverRecordsRefusedFilesAndKeepsGoing) {
  t::TempDir dir;
  t::write_file(dir / "junk.so", "not a library");
  PluginRegistry registry;
  registry.discover({t::plugin_dir(), dir.path(), t::fixture_plugin_dir("wrong_api_version"), "/nonexistent/folder"});
  EXPECT_EQ(registry.names(PluginKind::kModel),
            (std::vector<std::string>{"resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "small_cnn"}));
  ASSERT_EQ(registry.rejected().size(), 2u);
  // The refusal shows up where a user would look: the unknown-name error.
  try {
    registry.find(PluginKind::kModel, "stale");
    FAIL() << "found a refused plugin";
  } catch (const PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Known model plugins: resnet101, resnet152, resnet18, resnet34, resnet50, small_cnn."),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("Wrong API version on plugin 'stale'"), std::string::npos) << message;
  }
}

TEST(PluginRegistry, DuplicateNameNamesBothFiles) {
  PluginRegistry registry;
  try {
    registry.discover({t::fixture_plugin_dir("duplicate_a"), t::fixture_plugin_dir("duplicate_b")});
    FAIL() << "no error for a duplicate name";
  } catch (const PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Duplicate plugin name: optimizer 'adam-copy'"), std::string::npos) << message;
    EXPECT_NE(message.find(fixture_file("duplicate_a").string()), std::string::npos) << message;
    EXPECT_NE(message.find(fixture_file("duplicate_b").string()), std::string::npos) << message;
  }
}

TEST(PluginRegistry, SameFolderTwiceIsNoDuplicate) {
  PluginRegistry registry;
  registry.discover({t::plugin_dir(), t::plugin_dir() / "."});
  EXPECT_EQ(registry.names(PluginKind::kModel).size(), 6u);  // each found once
}

TEST(PluginRegistry, UnknownNameListsKnownAndSuggests) {
  PluginRegistry registry;
  registry.discover({t::plugin_dir()});
  try {
    registry.find(PluginKind::kDataset, "imagefoldr");
    FAIL() << "found an unknown name";
  } catch (const PluginError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Didn't find a registered implementation for dataset plugin name: 'imagefoldr'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("Did you mean 'imagefolder'?"), std::string::npos) << message;
  }
}

TEST(PluginRegistry, FactoryExceptionsComeBackWithThePluginsName) {
  PluginRegistry registry;
  registry.load(fixture_file("failing"));
  const auto& plugin = registry.find(PluginKind::kDataset, "failing");
  for (const auto& [mode, expected] :
       std::vector<std::pair<std::string, std::string>>{{"throw", "the disk is on fire"},
                                                        {"c10", "a LibTorch check failed"},
                                                        {"null", "returned nothing from its factory"}}) {
    try {
      registry.make_dataset("failing", trainyard::Params({{"mode", mode}}), {});
      FAIL() << "no error for mode " << mode;
    } catch (const PluginError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("dataset plugin 'failing' (" + plugin.path.string() + ")"), std::string::npos) << message;
      EXPECT_NE(message.find(expected), std::string::npos) << message;
    }
  }
}

TEST(PluginRegistry, MadeObjectsKeepTheirLibraryReferenced) {
  PluginRegistry registry;
  registry.discover({t::plugin_dir()});
  const auto& plugin = registry.find(PluginKind::kModel, "resnet50");
  const long before = plugin.library.use_count();
  auto model = registry.make_model("resnet50", trainyard::Params({{"zero_init_residual", false}}), {3, 3, 32});
  EXPECT_EQ(plugin.library.use_count(), before + 1);
  model.reset();
  EXPECT_EQ(plugin.library.use_count(), before);
}

// Loading a library runs its code: a folder (or a library) any user can write to was loaded all
// the same, so anyone on the machine could run code as whoever ran the runner.
TEST(PluginRegistry, FoldersAndLibrariesWritableByEveryoneAreNotLoaded) {
  t::TempDir dir;
  const fs::path open_folder = dir / "open", open_file_folder = dir / "closed";
  fs::create_directories(open_folder);
  fs::create_directories(open_file_folder);
  const fs::path library = t::plugin_dir() / "trainyard_model_small_cnn.so";
  ASSERT_TRUE(fs::exists(library));
  fs::copy_file(library, open_folder / "small_cnn.so");
  fs::copy_file(library, open_file_folder / "small_cnn.so");
  fs::permissions(open_folder, fs::perms::others_write, fs::perm_options::add);
  fs::permissions(open_file_folder / "small_cnn.so", fs::perms::others_write, fs::perm_options::add);
  PluginRegistry registry;
  registry.discover({open_folder, open_file_folder});
  EXPECT_TRUE(registry.names(PluginKind::kModel).empty());
  ASSERT_EQ(registry.rejected().size(), 2u);
  EXPECT_NE(registry.rejected()[0].reason.find("is writable by every user"), std::string::npos)
      << registry.rejected()[0].reason;
  EXPECT_NE(registry.rejected()[1].reason.find("small_cnn.so' is writable by every user"), std::string::npos)
      << registry.rejected()[1].reason;

  fs::permissions(open_folder, fs::perms::others_write, fs::perm_options::remove);
  PluginRegistry fixed;
  fixed.discover({open_folder});
  EXPECT_EQ(fixed.names(PluginKind::kModel), std::vector<std::string>{"small_cnn"});
}
