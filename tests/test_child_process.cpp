// Child processes as the runner starts them (trials, ranks, workers' trials): output, process
// group, environment, death with the parent, reaping and how an exit is described.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "trainyard/system/child_process.h"

namespace t = trainyard::testing;
using trainyard::ChildOptions;
using trainyard::reap_child;
using trainyard::spawn_child;

namespace {

trainyard::ChildExit wait_for(pid_t pid) {
  for (int i = 0; i < 600; ++i) {
    if (const auto exited = reap_child(pid, /*block=*/true)) return *exited;
  }
  throw std::runtime_error("child never ended");
}

TEST(ChildProcess, WritesItsOutputToTheFileAndReportsItsExitCode) {
  t::TempDir dir;
  ChildOptions options;
  options.output = dir / "out.log";
  const pid_t pid = spawn_child({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}, options);
  const auto exited = wait_for(pid);
  EXPECT_EQ(exited.pid, pid);
  EXPECT_FALSE(exited.succeeded());
  EXPECT_EQ(exited.code(), 3);
  EXPECT_FALSE(exited.killed_by_signal());
  EXPECT_EQ(trainyard::describe_exit(exited.wait_status), "exited with code 3");
  EXPECT_EQ(t::read_file(dir / "out.log"), "to-stdout\nto-stderr\n");
}

TEST(ChildProcess, LeadsAGroupOfItsOwnOrJoinsTheOneGiven) {
  const pid_t leader = spawn_child({"/bin/sleep", "5"});
  EXPECT_EQ(::getpgid(leader), leader);
  ChildOptions join;
  join.process_group = leader;
  const pid_t member = spawn_child({"/bin/sleep", "5"}, join);
  EXPECT_EQ(::getpgid(member), leader);
  ::kill(-leader, SIGKILL);  // the whole group, as the launcher stops its ranks
  for (const pid_t pid : {leader, member}) {
    const auto exited = wait_for(pid);
    EXPECT_TRUE(exited.killed_by_signal());
    EXPECT_EQ(exited.code(), 1);
    EXPECT_EQ(trainyard::describe_exit(exited.wait_status), "was killed by signal 9 (Killed)");
  }
}

TEST(ChildProcess, GetsExactlyTheEnvironmentItIsGiven) {
  t::TempDir dir;
  ChildOptions options;
  options.output = dir / "env.txt";
  options.environment = std::vector<std::string>{"RANK=3", "ONLY=this"};
  ASSERT_TRUE(wait_for(spawn_child({"/usr/bin/env"}, options)).succeeded());
  EXPECT_EQ(t::read_file(dir / "env.txt"), "RANK=3\nONLY=this\n");
}

TEST(ChildProcess, ReapingWithoutBlockingReturnsNothingWhileItRuns) {
  const pid_t pid = spawn_child({"/bin/sleep", "5"});
  EXPECT_FALSE(reap_child(pid).has_value());
  ::kill(pid, SIGTERM);
  EXPECT_TRUE(wait_for(pid).killed_by_signal());
  EXPECT_THROW(reap_child(pid), std::runtime_error);  // no such child any more
}

// Gone, or a zombie that its new parent (whatever reaps orphans here) has not reaped yet.
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

TEST(ChildProcess, DiesWithItsParentWhenAsked) {
  // A forked helper (the parent) starts a child with die_with_parent, then exits: the kernel
  // kills the child, which would otherwise sleep on for 30 s.
  t::TempDir dir;
  const auto pid_file = dir / "child";
  const pid_t helper = ::fork();
  if (helper == 0) {
    ChildOptions options;
    options.die_with_parent = true;
    options.output = pid_file;
    spawn_child({"/bin/sh", "-c", "echo $$; exec /bin/sleep 30"}, options);
    ::usleep(300 * 1000);
    ::_exit(0);
  }
  ASSERT_GT(helper, 0);
  ::waitpid(helper, nullptr, 0);
  ASSERT_TRUE(t::wait_until([&] { return !t::read_file(pid_file).empty(); }, 10));
  const pid_t child = std::stoi(t::read_file(pid_file));
  EXPECT_TRUE(t::wait_until([&] { return ended(child); }, 10)) << "the child outlived its parent";
}

TEST(ChildProcess, AProgramThatCannotRunIsAnErrorNamingIt) {
  try {
    spawn_child({"/nonexistent/runner", "x"});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot start '/nonexistent/runner'"), std::string::npos) << e.what();
  }
  t::TempDir dir;
  ChildOptions options;
  options.output = dir / "no-such-folder" / "log";
  EXPECT_THROW(spawn_child({"/bin/true"}, options), std::runtime_error);
}

TEST(ChildProcess, ACopyOfThisProcessRunsItsBodyWithItsOwnOutputGroupAndSignals) {
  t::TempDir dir;
  std::cout << "buffered by the parent";  // must reach the parent's stdout alone, not the child's log
  ChildOptions options;
  options.output = dir / "copy.log";
  ::signal(SIGTERM, SIG_IGN);  // a sweep counts signals; its trials must get the default action back
  const pid_t parent = ::getpid();
  const auto pid = trainyard::fork_child(
      [&] {
        std::cout << "child of " << (::getppid() == parent ? "this test" : "another") << std::endl;
        std::fprintf(stderr, "sigterm %s\n", ::signal(SIGTERM, SIG_DFL) == SIG_DFL ? "default" : "changed");
        return 7;
      },
      options);
  ::signal(SIGTERM, SIG_DFL);
  std::cout << std::endl;
  ASSERT_TRUE(pid.has_value());
  EXPECT_EQ(::getpgid(*pid), *pid);
  const auto exited = wait_for(*pid);
  EXPECT_EQ(exited.code(), 7);
  EXPECT_EQ(t::read_file(dir / "copy.log"), "child of this test\nsigterm default\n");
}

TEST(ChildProcess, ACopyWhoseBodyThrowsSaysWhyAndFails) {
  t::TempDir dir;
  ChildOptions options;
  options.output = dir / "copy.log";
  const auto pid = trainyard::fork_child([]() -> int { throw std::runtime_error("no such experiment"); }, options);
  ASSERT_TRUE(pid.has_value());
  EXPECT_EQ(wait_for(*pid).code(), 1);
  EXPECT_EQ(t::read_file(dir / "copy.log"), "no such experiment\n");
}

// What a sweep with `jobs: 0` learns a trial needs: the child's largest resident set, from its reaping.
TEST(ChildProcess, ReapingReportsTheLargestMemoryTheChildHeld) {
  auto peak_of = [](std::size_t mib) {
    const auto pid = trainyard::fork_child([mib] {
      std::vector<char> held(mib << 20);
      for (std::size_t i = 0; i < held.size(); i += 4096) held[i] = 1;  // resident, not only reserved
      return held[0] == 1 ? 0 : 2;  // read, so that the writes are not optimized away
    });
    if (!pid) throw std::runtime_error("the test process has other threads");
    const auto exited = wait_for(*pid);
    EXPECT_TRUE(exited.succeeded());
    return exited.peak_rss_mib;
  };
  const double small = peak_of(1), large = peak_of(300);
  EXPECT_GE(large, 300.0);
  EXPECT_GT(large - small, 250.0) << small << " MiB for the child that held 1 MiB";
}

TEST(ChildProcess, AProcessWithOtherThreadsIsNotCopied) {
  EXPECT_TRUE(trainyard::single_threaded());
  bool ran = false;
  std::thread other([] { ::usleep(200 * 1000); });
  EXPECT_FALSE(trainyard::single_threaded());
  EXPECT_FALSE(trainyard::fork_child([&] {
                 ran = true;
                 return 0;
               }).has_value());
  other.join();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(trainyard::single_threaded());
}

}  // namespace
