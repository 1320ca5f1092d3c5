// Provenance: the git revision recorded with a run, read without running anything the
// repository's own configuration names.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"
#include "trainyard/system/provenance.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;

// Issue 16: `git status` in the experiment's folder ran that checkout's core.fsmonitor, a command
// of the repository's choosing. The revision is now read with fsmonitor and hooks switched off.
TEST(Provenance, GitRevisionRunsNoProgramTheRepositoryConfigures) {
  if (t::run_command("git --version").exit_code != 0) GTEST_SKIP() << "git is not installed";
  t::TempDir dir;
  const fs::path marker = dir.path() / "fsmonitor-ran";
  const fs::path hook = dir.path() / "fsmonitor.sh";
  std::ofstream(hook) << "#!/bin/sh\ntouch " << t::shell_quote(marker.string()) << "\n";
  fs::permissions(hook, fs::perms::owner_all);
  const fs::path repo = dir.path() / "repo";
  fs::create_directories(repo);
  std::ofstream(repo / "exp.yaml") << "name: x\n";
  const std::string git = "git -C " + t::shell_quote(repo.string()) + " ";
  ASSERT_EQ(t::run_command(git + "init -q && " + git + "add exp.yaml && " + git +
                           "-c user.name=t -c user.email=t@t commit -q -m one && " + git + "config core.fsmonitor " +
                           t::shell_quote(hook.string()))
                .exit_code,
            0);
  const std::string revision = trainyard::git_revision(repo / "exp.yaml");
  EXPECT_EQ(revision.size(), 40u) << revision;  // a commit, clean
  EXPECT_FALSE(fs::exists(marker)) << "git_revision ran the repository's core.fsmonitor";
  std::ofstream(repo / "exp.yaml") << "name: y\n";
  EXPECT_EQ(trainyard::git_revision(repo / "exp.yaml"), revision + "-dirty");
  EXPECT_FALSE(fs::exists(marker));
}
