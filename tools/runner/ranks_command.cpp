// runner ... --nproc N: one run over N processes of this machine, each the same command line
// without --nproc and with its rank in the environment (torchrun's contract).
#include "commands.h"

#include <trainyard/errors.h>

#include "local_launch.h"

namespace trainyard::runner {

int ranks_command(const Invocation& invocation, const LaunchEnvironment& launch) {
  if (launch.distributed()) {
    throw InputError("--nproc: this process is already rank " + std::to_string(launch.rank) + " of " +
                     std::to_string(launch.world_size) + " (" + launch.launcher +
                     " set the environment); leave --nproc out under a launcher");
  }
  std::vector<std::string> arguments{runner_executable()};
  for (int i = 1; i < invocation.argc; ++i) {
    const std::string a = invocation.argv[i];
    if (a == "--nproc") {
      ++i;
    } else if (a.rfind("--nproc=", 0) != 0) {
      arguments.push_back(a);
    }
  }
  install_counting_signal_handlers();
  LocalLaunchOptions launch_options;
  launch_options.nproc = invocation.nproc;
  launch_options.signals = &g_stop_signals;
  return launch_local_ranks(arguments, launch_options);
}

}  // namespace trainyard::runner
