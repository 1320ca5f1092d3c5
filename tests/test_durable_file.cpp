// Files replaced whole or not at all (checkpoints, the decoded-image cache).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "test_support.h"
#include "trainyard/system/durable_file.h"

namespace fs = std::filesystem;
namespace t = trainyard::testing;
using trainyard::DurableFile;

namespace {
std::vector<std::string> names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}
}  // namespace

TEST(DurableFile, ReplacesTheFileWholeAndPrivately) {
  t::TempDir dir;
  t::write_file(dir / "best.pt", "old");
  trainyard::write_file_durably(dir / "best.pt", "new content");
  EXPECT_EQ(t::read_file(dir / "best.pt"), "new content");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"best.pt"});
  struct stat info {};
  ASSERT_EQ(::stat((dir / "best.pt").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);  // a checkpoint holds the run's configuration
}

TEST(DurableFile, AnUncommittedFileLeavesTheOldContentAndNoTemporary) {
  t::TempDir dir;
  t::write_file(dir / "last.pt", "old");
  {
    DurableFile file(dir / "last.pt");
    file.write("half", 4);
  }  // a failure before commit, as an exception would leave it
  EXPECT_EQ(t::read_file(dir / "last.pt"), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"last.pt"});
}

// Two writers of one path (a stalled worker and the one that took its trial over) wrote the same
// "last.pt.tmp" before: each got the other's bytes interleaved. Now each has its own file.
TEST(DurableFile, TwoWritersOfOnePathNeverShareATemporaryFile) {
  t::TempDir dir;
  DurableFile first(dir / "last.pt"), second(dir / "last.pt");
  EXPECT_NE(first.temporary_path(), second.temporary_path());
  first.write("first", 5);
  second.write("second", 6);
  first.commit();
  EXPECT_EQ(t::read_file(dir / "last.pt"), "first");
  second.commit();
  EXPECT_EQ(t::read_file(dir / "last.pt"), "second");
}

// A symbolic link planted where the temporary file goes is never written through.
TEST(DurableFile, NeverWritesThroughALinkAtAGuessableName) {
  t::TempDir dir;
  t::write_file(dir / "victim", "keep");
  fs::create_symlink(dir / "victim", dir / "best.pt.tmp");
  trainyard::write_file_durably(dir / "best.pt", "data");
  EXPECT_EQ(t::read_file(dir / "victim"), "keep");
  EXPECT_EQ(t::read_file(dir / "best.pt"), "data");
}

TEST(DurableFile, AFileThatCannotBeCreatedIsNamedWithTheReason) {
  t::TempDir dir;
  t::write_file(dir / "not-a-folder", "a file where the folder should be");
  try {
    trainyard::write_file_durably(dir / "not-a-folder" / "best.pt", "new");
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not-a-folder/best.pt.tmp."), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t::read_file(dir / "not-a-folder"), "a file where the folder should be");
}

// best.pt becomes a hard link to the epoch's last.pt (one write for both); when last.pt is later
// replaced, best.pt keeps the epoch's file. A planted symbolic link in the link's temporary name
// is removed, never followed.
TEST(DurableFile, AHardLinkReplacesTheFileWholeAndOutlivesTheNextReplacement) {
  t::TempDir dir;
  t::write_file(dir / "victim", "keep");
  fs::create_symlink(dir / "victim", dir / "best.pt.tmp.link");
  t::write_file(dir / "best.pt", "old best");
  trainyard::write_file_durably(dir / "last.pt", "epoch 3");
  ASSERT_TRUE(trainyard::replace_with_hard_link(dir / "last.pt", dir / "best.pt"));
  trainyard::write_file_durably(dir / "last.pt", "epoch 4");
  EXPECT_EQ(t::read_file(dir / "best.pt"), "epoch 3");
  EXPECT_EQ(t::read_file(dir / "last.pt"), "epoch 4");
  EXPECT_EQ(t::read_file(dir / "victim"), "keep");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"best.pt", "last.pt", "victim"}));
}

TEST(DurableFile, TheTemporariesOfAKilledWriterAreRemovedAndNothingElse) {
  t::TempDir dir;
  for (const char* name : {"last.pt", "last.pt.tmp.Xk3q9Z", "last.pt.tmp.link", "best.pt.tmp.a1b2c3", "last.ptx"})
    t::write_file(dir / name, "x");
  trainyard::remove_temporaries(dir / "last.pt");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"best.pt.tmp.a1b2c3", "last.pt", "last.ptx"}));
}
