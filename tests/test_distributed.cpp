// Data-parallel training with c10d: the launch contract, DistributedSampler's shards, the gradient
// buckets (two ranks as two threads of this process, Gloo on loopback), and whole runs of the
// runner over two processes.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "test_support.h"
#include "trainyard/batch_norm.h"
#include "trainyard/distributed/distributed.h"
#include "trainyard/errors.h"

namespace t = trainyard::testing;
namespace fs = std::filesystem;
using trainyard::LaunchEnvironment;

namespace {

trainyard::EnvironmentLookup lookup_in(std::map<std::string, std::string> variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

std::string error_of(const std::map<std::string, std::string>& variables) {
  try {
    trainyard::read_launch_environment(lookup_in(variables));
  } catch (const trainyard::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(LaunchEnvironment, TorchrunVariables) {
  const auto env = trainyard::read_launch_environment(lookup_in({{"RANK", "3"},
                                                                 {"WORLD_SIZE", "8"},
                                                                 {"LOCAL_RANK", "1"},
                                                                 {"LOCAL_WORLD_SIZE", "2"},
                                                                 {"MASTER_ADDR", "10.0.0.5"},
                                                                 {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_addr, "10.0.0.5");
  EXPECT_EQ(env.master_port, 29400);
  EXPECT_TRUE(env.distributed());
}

TEST(LaunchEnvironment, SlurmStepVariablesAreTheFallback) {
  const auto env = trainyard::read_launch_environment(lookup_in({{"SLURM_STEP_ID", "0"},
                                                                 {"SLURM_PROCID", "5"},
                                                                 {"SLURM_NTASKS", "6"},
                                                                 {"SLURM_LOCALID", "2"},
                                                                 {"SLURM_STEP_TASKS_PER_NODE", "3(x2)"},
                                                                 {"SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"},
                                                                 {"SLURM_JOB_ID", "123456"}}));
  EXPECT_EQ(env.launcher, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 6);
  EXPECT_EQ(env.local_rank, 2);
  EXPECT_EQ(env.local_world_size, 3);
  EXPECT_EQ(env.master_addr, "10.1.2.3");
  EXPECT_EQ(env.master_port, 29500 + 456);
  // MASTER_ADDR / MASTER_PORT, when the batch script sets them, win.
  const auto set = trainyard::read_launch_environment(lookup_in({{"SLURM_STEP_ID", "0"},
                                                                 {"SLURM_PROCID", "0"},
                                                                 {"SLURM_NTASKS", "2"},
                                                                 {"MASTER_ADDR", "node01"},
                                                                 {"MASTER_PORT", "12345"}}));
  EXPECT_EQ(set.master_addr, "node01");
  EXPECT_EQ(set.master_port, 12345);
}

TEST(LaunchEnvironment, ABatchScriptOutsideSrunIsOneProcess) {
  // sbatch --ntasks=4 runs its script once: without an srun step it is not rank 0 of 4.
  const auto env = trainyard::read_launch_environment(lookup_in({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}));
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.launcher, "");
  EXPECT_FALSE(trainyard::read_launch_environment(lookup_in({})).distributed());
}

TEST(LaunchEnvironment, MalformedValuesNameTheVariable) {
  EXPECT_NE(error_of({{"RANK", "one"}, {"WORLD_SIZE", "2"}}).find("RANK='one': expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK=2 is outside 0..1 (WORLD_SIZE=2)"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}}).find("RANK is set but WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT=70000"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}})
                .find("SLURM_PROCID=4 is outside 0..3 (SLURM_NTASKS=4)"),
            std::string::npos);
}

TEST(ShardOrder, PaddedShardsAreEqualAndCoverEveryIndex) {
  const std::vector<std::int64_t> order{9, 4, 7, 1, 0, 3, 8};  // 7 samples over 3 ranks
  std::multiset<std::int64_t> seen;
  for (int rank = 0; rank < 3; ++rank) {
    const auto shard = trainyard::shard_order(order, rank, 3, /*pad=*/true);
    EXPECT_EQ(shard.size(), 3u) << rank;  // ceil(7 / 3)
    seen.insert(shard.begin(), shard.end());
  }
  // Every index once, and the first two again as padding (as DistributedSampler repeats the head).
  EXPECT_EQ(seen, (std::multiset<std::int64_t>{9, 4, 7, 1, 0, 3, 8, 9, 4}));
  EXPECT_EQ(trainyard::shard_order(order, 1, 3, true), (std::vector<std::int64_t>{4, 0, 9}));
}

TEST(ShardOrder, UnpaddedShardsHoldEachIndexOnceAndDropCutsTheTail) {
  const std::vector<std::int64_t> order{5, 6, 7, 8, 9};
  EXPECT_EQ(trainyard::shard_order(order, 0, 2, false), (std::vector<std::int64_t>{5, 7, 9}));
  EXPECT_EQ(trainyard::shard_order(order, 1, 2, false), (std::vector<std::int64_t>{6, 8}));
  EXPECT_EQ(trainyard::shard_order(order, 0, 2, false, /*drop=*/true), (std::vector<std::int64_t>{5, 7}));
  EXPECT_EQ(trainyard::shard_order(order, 1, 2, false, true), (std::vector<std::int64_t>{6, 8}));
  EXPECT_EQ(trainyard::shard_order(order, 0, 1, true), order);
}

// ---- two ranks as two threads of this process, over Gloo on loopback

namespace {

// Runs `body` as ranks 0 and 1 on two threads. Unless `leave_at_once`, the ranks meet once more
// after it, as PyTorch's tests end with a barrier: a rank that tore its process group down while
// the other was still connecting made that one fail with "Connection closed by peer" (seen under
// load, in the second half of the batch-norm test, where the body has no collective of its own).
template <typename Body>
void run_two_ranks(Body body, bool leave_at_once = false) {
  const int port = trainyard::free_loopback_port();
  std::exception_ptr errors[2];
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        LaunchEnvironment env;
        env.rank = rank;
        env.world_size = 2;
        env.master_port = port;
        env.launcher = "test";
        trainyard::Communicator communicator(env, "gloo", std::chrono::seconds(20));
        body(communicator);
        if (!leave_at_once) communicator.any(false);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

struct TwoLayers : torch::nn::Module {
  TwoLayers() {
    first = register_module("first", torch::nn::Linear(6, 5));
    unused = register_module("unused", torch::nn::Linear(2, 2));  // never reached by forward
    second = register_module("second", torch::nn::Linear(5, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return second(torch::relu(first(x))); }
  torch::nn::Linear first{nullptr}, unused{nullptr}, second{nullptr};
};

}  // namespace

TEST(GradientReducer, BroadcastThenAveragedGradientsEqualTheWholeBatchGradient) {
  torch::manual_seed(3);
  const auto inputs = torch::randn({8, 6});
  const auto targets = torch::randint(0, 3, {8});
  // The reference: one process, the whole batch of 8.
  std::vector<torch::Tensor> expected;
  std::vector<torch::Tensor> initial;
  {
    torch::manual_seed(100);  // rank 0's initialization
    TwoLayers model;
    for (const auto& p : model.parameters()) initial.push_back(p.detach().clone());
    torch::nn::functional::cross_entropy(model.forward(inputs), targets).backward();
    for (const auto& p : model.parameters()) {
      expected.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    }
  }
  std::vector<torch::Tensor> results[2];
  std::vector<torch::Tensor> starts[2];
  std::size_t buckets = 0;
  std::mutex seed_mutex;
  run_two_ranks([&](trainyard::Communicator& c) {
    std::unique_ptr<TwoLayers> model;
    {
      std::lock_guard<std::mutex> lock(seed_mutex);                    // the default generator is process-wide
      torch::manual_seed(100 + static_cast<std::uint64_t>(c.rank()));  // ranks start apart
      model = std::make_unique<TwoLayers>();
    }
    trainyard::broadcast_module_state(c, *model);
    for (const auto& p : model->parameters()) starts[c.rank()].push_back(p.detach().clone());
    // Tiny buckets: several of them, launched while backward goes on.
    trainyard::GradientReducer reducer(c, model->parameters(), /*bucket_mb=*/40.0 / (1024 * 1024));
    if (c.rank() == 0) buckets = reducer.num_buckets();
    for (int step = 0; step < 2; ++step) {  // twice: the buckets reset between steps
      for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
      const auto half = torch::arange(c.rank() * 4, c.rank() * 4 + 4);
      torch::nn::functional::cross_entropy(model->forward(inputs.index_select(0, half)), targets.index_select(0, half))
          .backward();
      reducer.synchronize();
    }
    for (const auto& p : model->parameters()) results[c.rank()].push_back(p.grad().clone());
  });
  EXPECT_GE(buckets, 3u);
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(results[rank].size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_TRUE(torch::equal(starts[rank][i], initial[i])) << "rank " << rank << " parameter " << i;
      EXPECT_TRUE(torch::allclose(results[rank][i], expected[i], 1e-5, 1e-6))
          << "rank " << rank << " parameter " << i << "\n"
          << results[rank][i] << "\n"
          << expected[i];
    }
  }
}

TEST(SynchronizedBatchNorm, TwoHalvesNormalizeAndBackpropagateAsTheWholeBatch) {
  torch::manual_seed(8);
  const auto inputs = torch::randn({8, 3, 4, 4}) * 2 + 1;
  const auto upstream = torch::randn({8, 3, 4, 4});  // d loss / d output
  // The reference: LibTorch's own batch norm over the whole batch of 8.
  torch::nn::BatchNorm2d reference(3);
  reference->weight.data().uniform_(0.5, 1.5);
  reference->bias.data().uniform_(-0.5, 0.5);
  const auto whole_input = inputs.clone().requires_grad_(true);
  const auto whole_output = reference(whole_input);
  (whole_output * upstream).sum().backward();

  torch::Tensor outputs[2], input_grads[2], weight_grads[2], running_vars[2];
  run_two_ranks([&](trainyard::Communicator& c) {
    trainyard::BatchNorm2d norm(3);
    norm->weight.data().copy_(reference->weight.detach());
    norm->bias.data().copy_(reference->bias.detach());
    torch::nn::Sequential model(norm);
    EXPECT_EQ(trainyard::synchronize_batch_norm(*model, c, "test"), 1);
    trainyard::GradientReducer reducer(c, model->parameters(), 25.0);
    const auto half = torch::arange(c.rank() * 4, c.rank() * 4 + 4);
    const auto input = inputs.index_select(0, half).requires_grad_(true);
    const auto output = norm(input);
    (output * upstream.index_select(0, half)).sum().backward();
    reducer.synchronize();
    outputs[c.rank()] = output.detach();
    input_grads[c.rank()] = input.grad();
    weight_grads[c.rank()] = norm->weight.grad();
    running_vars[c.rank()] = norm->running_var.clone();
  });
  for (int rank = 0; rank < 2; ++rank) {
    const auto half = torch::arange(rank * 4, rank * 4 + 4);
    EXPECT_TRUE(torch::allclose(outputs[rank], whole_output.detach().index_select(0, half), 1e-4, 1e-5)) << rank;
    EXPECT_TRUE(torch::allclose(input_grads[rank], whole_input.grad().index_select(0, half), 1e-4, 1e-5)) << rank;
    // Each rank's loss is half the whole; the reducer averages, as DDP does.
    EXPECT_TRUE(torch::allclose(weight_grads[rank], reference->weight.grad() / 2, 1e-4, 1e-5)) << rank;
    EXPECT_TRUE(torch::allclose(running_vars[rank], reference->running_var, 1e-4, 1e-5)) << rank;
  }
  // LibTorch's own layers cannot be synchronized: said, not silently ignored.
  run_two_ranks([&](trainyard::Communicator& c) {
    torch::nn::Sequential plain(torch::nn::BatchNorm2d(3));
    try {
      trainyard::synchronize_batch_norm(*plain, c, "plainnet");
      ADD_FAILURE() << "a torch::nn::BatchNorm2d was accepted";
    } catch (const trainyard::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("model 'plainnet' has 1 torch::nn::BatchNorm layer(s)"), std::string::npos)
          << e.what();
    }
  });
}

TEST(Communicator, APeerThatLeavesMakesTheOtherFailWithAClearError) {
  std::string message;
  const auto start = std::chrono::steady_clock::now();
  run_two_ranks(
      [&](trainyard::Communicator& c) {
        EXPECT_FALSE(c.any(false));
        EXPECT_TRUE(c.any(c.rank() == 1));
        if (c.rank() == 1) return;  // rank 1 leaves: its process group goes away
        try {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          c.any(false);
          c.any(false);
        } catch (const trainyard::CollectiveError& e) {
          message = e.what();
        }
      },
      /*leave_at_once=*/true);
  EXPECT_NE(message.find("rank 0 of 2: a collective operation (gloo) failed"), std::string::npos) << message;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 25.0);
}

// The NCCL path, where this build and machine have it (a CUDA build on a GPU; skipped elsewhere).
// One rank on cuda:0 is what one GPU allows (NCCL refuses two ranks on one device): it checks that
// the group forms, that every collective the training loop uses runs on CUDA tensors, and that the
// bucketed gradients come back as computed (asynchronous NCCL work is waited for).
TEST(Communicator, NcclOnOneGpuRunsEveryCollectiveTheTrainingLoopUses) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  try {
    trainyard::resolve_backend("nccl", cuda);
  } catch (const trainyard::InputError& e) {
    GTEST_SKIP() << e.what();
  }
  LaunchEnvironment env;
  env.master_port = trainyard::free_loopback_port();
  env.launcher = "test";
  trainyard::Communicator c(env, "nccl", std::chrono::seconds(30));
  EXPECT_EQ(c.backend(), "nccl");
  std::vector<torch::Tensor> sums{torch::arange(6, torch::TensorOptions().dtype(torch::kFloat).device(cuda))};
  c.all_reduce_sum(sums);
  EXPECT_TRUE(torch::equal(sums[0].cpu(), torch::arange(6, torch::kFloat)));
  auto threes = torch::full({4}, 3.0, torch::TensorOptions().device(cuda));
  c.all_reduce_sum_async(threes)->wait();
  EXPECT_TRUE(torch::equal(threes.cpu(), torch::full({4}, 3.0)));
  EXPECT_TRUE(c.any(true));
  EXPECT_FALSE(c.any(false));
  std::string bytes = "checkpoint bytes";
  c.broadcast_bytes(bytes);
  EXPECT_EQ(bytes, "checkpoint bytes");

  torch::manual_seed(5);
  TwoLayers reference;
  torch::manual_seed(5);
  TwoLayers reduced;
  reference.to(cuda);
  reduced.to(cuda);
  trainyard::broadcast_module_state(c, reduced);
  trainyard::GradientReducer reducer(c, reduced.parameters(), /*bucket_mb=*/40.0 / (1024 * 1024));
  const auto inputs = torch::randn({8, 6}).to(cuda);
  const auto targets = torch::randint(0, 3, {8}).to(cuda);
  torch::nn::functional::cross_entropy(reference.forward(inputs), targets).backward();
  torch::nn::functional::cross_entropy(reduced.forward(inputs), targets).backward();
  reducer.synchronize();
  const auto expected = reference.parameters();
  const auto actual = reduced.parameters();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto want = expected[i].grad().defined() ? expected[i].grad() : torch::zeros_like(expected[i]);
    ASSERT_TRUE(actual[i].grad().defined()) << "parameter " << i;
    EXPECT_TRUE(torch::allclose(actual[i].grad().cpu(), want.cpu(), 1e-6, 1e-7)) << "parameter " << i;
  }
}

TEST(LaunchEnvironment, ProcessesOnCudaTakeOneGpuEach) {
  EXPECT_NO_THROW(trainyard::require_gpu_per_local_process(torch::Device(torch::kCPU), 4, 0));
  EXPECT_NO_THROW(trainyard::require_gpu_per_local_process(torch::Device(torch::kCUDA, 0), 2, 2));
  try {
    trainyard::require_gpu_per_local_process(torch::Device(torch::kCUDA, 0), 2, 1);
    ADD_FAILURE() << "two processes were given one GPU";
  } catch (const trainyard::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("it has 1 CUDA device(s): start at most 1 (--nproc 1), or set device: cpu"),
              std::string::npos)
        << e.what();
  }
}

// ---- whole runs: the runner over two processes

namespace {

class DistributedRuns : public ::testing::Test {
 protected:
  void SetUp() override {
    // 24 training images (6 steps of a global batch of 4) and 8 test images.
    t::make_image_folder(dir_ / "data", {{"a", 16}, {"b", 16}}, 12);
  }
  t::CommandResult runner(const std::string& arguments, const std::string& environment = "") {
    return t::run_command(t::runner_command(dir_.path(), arguments, environment + " " + t::tiny_model_environment()));
  }
  std::vector<std::vector<double>> epochs(std::int64_t run) {
    SQLite::Database db((dir_ / "results/d.db").string(), SQLite::OPEN_READONLY);
    SQLite::Statement query(db,
                            "SELECT train_loss, train_accuracy, test_loss, test_accuracy FROM epochs "
                            "WHERE run_id = ? ORDER BY epoch");
    query.bind(1, run);
    std::vector<std::vector<double>> rows;
    while (query.executeStep()) {
      rows.push_back({query.getColumn(0).getDouble(), query.getColumn(1).getDouble(), query.getColumn(2).getDouble(),
                      query.getColumn(3).getDouble()});
    }
    return rows;
  }
  void expect_killed_rank_fails_the_run(int rank, const std::string& said, const std::string& why);
  t::TempDir dir_;
};

const char* const kTinyExperiment = R"(name: ddp
seed: 4
device: cpu
model:     {plugin: tiny, width: 6}
dataset:   {plugin: imagefolder, root: data, image_size: 12, train_fraction: 0.75}
optimizer: {plugin: adam, lr: 1.0e-2}
train:     {epochs: 3, batch_size: 4, threads: 1, precision: fp32}
distributed: {timeout_seconds: 20}
output:    {db: results/d.db, checkpoints: results/checkpoints}
)";

}  // namespace

TEST_F(DistributedRuns, TwoProcessesEqualOneAtTheSameGlobalBatch) {
  t::write_file(dir_ / "exp.yaml", kTinyExperiment);
  const auto single = runner("exp.yaml");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const auto pair = runner("exp.yaml --nproc 2 --set train.batch_size=2");  // 2 x 2 = 4
  ASSERT_EQ(pair.exit_code, 0) << pair.output;

  const auto reference = epochs(1), distributed = epochs(2);
  ASSERT_EQ(reference.size(), 3u);
  ASSERT_EQ(distributed.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    for (std::size_t c = 0; c < 4; ++c) {
      EXPECT_NEAR(distributed[e][c], reference[e][c], 1e-5) << "epoch " << e + 1 << " column " << c;
    }
  }
  SQLite::Database db((dir_ / "results/d.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 2);  // rank 1 wrote no row
  EXPECT_EQ(db.execAndGet("SELECT world_size || ' ' || coalesce(distributed_backend, '-') FROM runs WHERE id = 1")
                .getString(),
            "1 -");
  EXPECT_EQ(db.execAndGet("SELECT world_size || ' ' || distributed_backend FROM runs WHERE id = 2").getString(),
            "2 gloo");
  // The test figures cover the whole split once: 8 images, so accuracies are multiples of 1/8.
  EXPECT_NEAR(distributed[2][3] * 8, std::round(distributed[2][3] * 8), 1e-9);
}

// Kills `rank` before its 8th training step (mid-way through epoch 2 of 20) and checks the whole
// command ends within a minute, saying `said`, with run 1 failed for `why` and epoch 1 kept.
void DistributedRuns::expect_killed_rank_fails_the_run(int rank, const std::string& said, const std::string& why) {
  t::write_file(dir_ / "exp.yaml", kTinyExperiment);
  const auto start = std::chrono::steady_clock::now();
  const auto killed = runner("exp.yaml --nproc 2 --set train.batch_size=2 --set train.epochs=20",
                             "TRAINYARD_FAULT_KILL_RANK_AT_STEP=" + std::to_string(rank) + ":8");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(killed.exit_code, 1) << killed.output;
  EXPECT_LT(seconds, 60.0) << killed.output;
  EXPECT_NE(killed.output.find(said), std::string::npos) << killed.output;
  SQLite::Database db((dir_ / "results/d.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT status FROM runs WHERE id = 1").getString(), "failed");
  const std::string error = db.execAndGet("SELECT error FROM runs WHERE id = 1").getString();
  EXPECT_NE(error.find(why), std::string::npos) << error;
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM epochs WHERE run_id = 1").getInt(), 1);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST_F(DistributedRuns, AKilledRankFailsTheRunWithinAMinute) {
  // Rank 0 fails at its next collective and records why.
  expect_killed_rank_fails_the_run(1, "rank 1 was killed by signal",
                                   "rank 0 of 2: a collective operation (gloo) failed");
}

TEST_F(DistributedRuns, AKilledRankZeroLeavesTheRunMarkedFailedByTheLauncher) {
  // Rank 1 fails at its next collective; the launcher records the run failed for rank 0.
  expect_killed_rank_fails_the_run(0, "rank 1 of 2: a collective operation (gloo) failed",
                                   "rank 0 was killed by signal");
}

TEST_F(DistributedRuns, AFailedRunResumesOverTwoProcessesAsIfNeverStopped) {
  t::write_file(dir_ / "exp.yaml", kTinyExperiment);
  const std::string arguments = "exp.yaml --nproc 2 --set train.batch_size=2 --set train.epochs=4";
  const auto whole = runner(arguments);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto killed = runner(arguments, "TRAINYARD_FAULT_KILL_RANK_AT_STEP=1:8");  // in epoch 2
  ASSERT_EQ(killed.exit_code, 1) << killed.output;
  const auto resumed = runner("--resume 2 --db results/d.db --nproc 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("run 2 resumed after epoch 1 of 4"), std::string::npos) << resumed.output;
  const auto reference = epochs(1), continued = epochs(2);
  ASSERT_EQ(reference.size(), 4u);
  ASSERT_EQ(continued.size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    for (std::size_t c = 0; c < 4; ++c) {
      EXPECT_DOUBLE_EQ(continued[e][c], reference[e][c]) << "epoch " << e + 1 << " column " << c;
    }
  }
  SQLite::Database db((dir_ / "results/d.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT status || ' ' || world_size FROM runs WHERE id = 2").getString(), "finished 2");
}

TEST_F(DistributedRuns, BadInputIsReportedOnceBeforeAnyRankStarts) {
  t::write_file(dir_ / "exp.yaml", std::string(kTinyExperiment) + "sweep:\n  grid:\n    optimizer.lr: [0.1, 0.01]\n");
  const auto sweep = runner("exp.yaml --nproc 2");
  EXPECT_EQ(sweep.exit_code, 2) << sweep.output;
  EXPECT_NE(sweep.output.find("exp.yaml: sweep: a sweep cannot run over several processes yet"), std::string::npos)
      << sweep.output;
  t::write_file(dir_ / "bad.yaml", kTinyExperiment);
  const auto bad = runner("bad.yaml --nproc 2 --set distributed.backend=mpi");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("distributed.backend"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("rank 1"), std::string::npos) << bad.output;  // no rank was started
  EXPECT_FALSE(std::filesystem::exists(dir_ / "results/d.db"));
}

TEST_F(DistributedRuns, TheResNet50RecipeTrainsOverTwoProcessesAsOneRun) {
  t::write_file(dir_ / "exp.yaml", R"(name: resnet50-ddp
seed: 1
device: cpu
model:     {plugin: resnet50}
dataset:   {plugin: imagefolder, root: data, image_size: 32, train_fraction: 0.75}
optimizer: {plugin: adam, lr: 1.0e-4}
train:     {epochs: 1, batch_size: 4, threads: 1}
distributed: {timeout_seconds: 60, batch_norm: sync}
output:    {db: results/d.db, checkpoints: results/checkpoints}
)");
  const auto run = t::run_command(t::runner_command(dir_.path(), "exp.yaml --nproc 2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("batch norm: statistics of the global batch (2 processes) in 53 layer(s)"),
            std::string::npos)
      << run.output;
  SQLite::Database db((dir_ / "results/d.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT status || ' ' || world_size || ' ' || distributed_backend || ' ' || num_parameters "
                          "FROM runs")
                .getString(),
            "finished 2 gloo 23512130");
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM epochs").getInt(), 1);
  EXPECT_TRUE(std::filesystem::exists(t::recorded_run_dir(dir_ / "results/d.db", 1) / "best.pt"));
}

namespace {
// Local addresses of the TCP sockets process `pid` listens on, as /proc/net/tcp{,6} write them
// ("0100007F:1F90" is 127.0.0.1:8080; "00000000:1F90" every interface).
std::vector<std::string> listening_addresses(int pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::vector<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(t::read_file(table));
    std::string line;
    std::getline(lines, line);  // the header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, skip, inode;
      fields >> slot >> local >> remote >> state;
      for (int i = 0; i < 5; ++i) fields >> skip;
      fields >> inode;
      if (state == "0A" && inodes.count(inode)) out.push_back(local);
    }
  }
  return out;
}

bool loopback(const std::string& address) {
  const std::string host = address.substr(0, address.find(':'));
  return host == "0100007F" || host == "00000000000000000000000001000000";
}
}  // namespace

// `runner --nproc` met its ranks through LibTorch 1.13's TCP store, whose server listens on every
// interface: anyone who could reach the machine could join (or disturb) the rendezvous. The ranks
// now meet through a file in a folder of their user's alone, and Gloo binds them to loopback.
// Gloo listens only while its pairs connect, so the test holds that moment open: it stops the
// second rank as soon as it exists, and the first then waits for it, listening.
TEST_F(DistributedRuns, TheRanksListenOnLoopbackOnly) {
  t::write_file(dir_ / "exp.yaml", kTinyExperiment);
  const pid_t launcher =
      std::stoi(t::run_command(t::runner_command(dir_.path(), "exp.yaml --nproc 2", t::tiny_model_environment()) +
                               " > run.log 2>&1 & echo $!")
                    .output);
  std::vector<int> ranks;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ranks.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::istringstream children(t::run_command("pgrep -P " + std::to_string(launcher)).output);
    ranks.clear();
    for (int pid = 0; children >> pid;) ranks.push_back(pid);
  }
  ASSERT_EQ(ranks.size(), 2u) << t::read_file(dir_ / "run.log");
  ASSERT_EQ(kill(ranks[1], SIGSTOP), 0);  // within milliseconds of its start: long before it loads LibTorch
  std::vector<std::string> addresses;
  EXPECT_TRUE(t::wait_until(
      [&] {
        addresses = listening_addresses(ranks[0]);
        return !addresses.empty();
      },
      15))
      << "rank 0 never listened while rank 1 was stopped\n"
      << t::read_file(dir_ / "run.log");
  for (const auto& address : addresses) EXPECT_TRUE(loopback(address)) << "listening on " << address;
  kill(ranks[1], SIGCONT);
  EXPECT_TRUE(t::wait_for_exit(launcher, 60));
}
