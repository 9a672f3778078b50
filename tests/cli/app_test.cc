// The command line without a process of its own: flags parsed into options, the one-line errors
// and exit codes a user meets, --help and --version. The subcommands' work is their libraries'
// tests' (and tests/*_test.sh's, which run the binary).
#include "cli/app.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/commands.h"
#include "deploy/local/launch.h"
#include "gtest/gtest.h"

namespace vertebra::cli {
namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
};

// Runs `args` (without the program's name) through `app`, capturing what it prints.
Outcome RunWith(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"vertebra"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  Outcome o;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  o.code = Run(app, static_cast<int>(argv.size()), argv.data());
  o.out = ::testing::internal::GetCapturedStdout();
  o.err = ::testing::internal::GetCapturedStderr();
  return o;
}

Outcome RunVertebra(const std::vector<std::string>& args) {
  const std::unique_ptr<CLI::App> app = MakeApp();
  return RunWith(*app, args);
}

TEST(Help, EveryCommandPrintsItsUsageAndSucceeds) {
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{{},
                                                                                       {"arch"},
                                                                                       {"arch", "stats"},
                                                                                       {"bench"},
                                                                                       {"bench", "arch"},
                                                                                       {"bench", "search"},
                                                                                       {"bench", "report"},
                                                                                       {"bench", "controller"},
                                                                                       {"eval"},
                                                                                       {"launch"},
                                                                                       {"controller"},
                                                                                       {"worker"},
                                                                                       {"status"},
                                                                                       {"top"},
                                                                                       {"show"},
                                                                                       {"export"},
                                                                                       {"report"}}) {
    std::vector<std::string> args = command;
    args.push_back("--help");
    const Outcome o = RunVertebra(args);
    EXPECT_EQ(o.code, 0) << args.front();
    EXPECT_NE(o.out.find("Usage: vertebra"), std::string::npos) << o.out;
    EXPECT_EQ(o.err, "");
  }
}

TEST(Help, LaunchListsItsFlagsWithTheirDefaults) {
  const Outcome o = RunVertebra({"launch", "--help"});
  EXPECT_EQ(o.code, 0);
  for (const char* flag : {"--config", "--workers", "--dir", "--db", "--listen", "--device", "--threads", "--report",
                           "--top", "--simulate"}) {
    EXPECT_NE(o.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(o.out.find("127.0.0.1:0"), std::string::npos) << o.out;
}

TEST(Version, PrintsTheVersion) {
  const Outcome o = RunVertebra({"--version"});
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.out, "vertebra 0.1.0\n");
}

TEST(FlagErrors, AreOneLineNamingTheFlagWithExitCodeTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{}, "vertebra: A subcommand is required (see --help)\n"},
      {{"arch", "bogus-command"}, "vertebra: A subcommand is required (see --help)\n"},
      {{"arch", "stats", "spinenet-49", "--bogus"},
       "vertebra: The following argument was not expected: --bogus (see --help)\n"},
      {{"top", "-n"}, "vertebra: -n: 1 required INT:INT in [1 - 100000] missing (see --help)\n"},
      {{"top", "-n", "abc"}, "vertebra: -n: Value abc not in range 1 to 100000 (see --help)\n"},
      {{"bench", "arch", "--count", "abc"}, "vertebra: --count: Value abc not in range 1 to 10000000 (see --help)\n"},
      {{"bench", "search", "--parallel", "abc"}, "vertebra: Could not convert: --parallel = abc (see --help)\n"},
      {{"bench", "controller", "--seconds", "1x"}, "vertebra: Could not convert: --seconds = 1x (see --help)\n"},
      {{"launch"}, "vertebra: --config is required (see --help)\n"},
      {{"launch", "--config", "x.json", "--workers", "0"},
       "vertebra: --workers: Value 0 not in range 1 to 256 (see --help)\n"},
      {{"launch", "--config", "x.json", "--workers", "many"},
       "vertebra: --workers: Value many not in range 1 to 256 (see --help)\n"},
  };
  for (const Case& c : cases) {
    const Outcome o = RunVertebra(c.args);
    EXPECT_EQ(o.code, kExitBadInput) << c.err;
    EXPECT_EQ(o.err, c.err);
    EXPECT_EQ(o.out, "");
  }
}

TEST(CommandErrors, NameTheFileWithExitCodeTwo) {
  Outcome o = RunVertebra({"eval", "/nonexistent/gt.json", "/nonexistent/dets.json"});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_EQ(o.err, "vertebra: /nonexistent/gt.json: cannot open file\n");
  o = RunVertebra({"report", "--db", "/nonexistent/x.db"});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_EQ(o.err, "vertebra: /nonexistent/x.db: cannot open the database: No such file or directory\n");
  o = RunVertebra({"top"});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_EQ(o.err, "vertebra: say where the search is: --db FILE or --controller HOST:PORT (see --help)\n");
}

TEST(Fail, ChoosesTheExitCodeByTheStatus) {
  auto code = [](const absl::Status& s) {
    ::testing::internal::CaptureStderr();
    int c = -1;
    try {
      Fail(s);
    } catch (const CLI::RuntimeError& e) {
      c = e.get_exit_code();
    }
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "vertebra: " + std::string(s.message()) + "\n");
    return c;
  };
  EXPECT_EQ(code(absl::InvalidArgumentError("bad")), kExitBadInput);
  EXPECT_EQ(code(absl::NotFoundError("missing")), kExitBadInput);
  EXPECT_EQ(code(absl::OutOfRangeError("far")), kExitBadInput);
  EXPECT_EQ(code(absl::AlreadyExistsError("there")), kExitBadInput);
  EXPECT_EQ(code(absl::InternalError("broken")), kExitFailure);
  EXPECT_EQ(code(absl::UnavailableError("later")), kExitFailure);
}

// `launch` with a fake in place of RunLocalSearch: what its flags become, and how its outcome
// becomes an exit code.
class LaunchFlagsTest : public ::testing::Test {
 protected:
  Outcome Launch(const std::vector<std::string>& args) {
    CLI::App app{"test", "vertebra"};
    RegisterLaunchCommand(app, [this](const deploy::LocalSearchOptions& o) {
      got_ = o;
      return result_;
    });
    std::vector<std::string> all = {"launch"};
    all.insert(all.end(), args.begin(), args.end());
    return RunWith(app, all);
  }

  absl::Status result_;
  std::optional<deploy::LocalSearchOptions> got_;
};

TEST_F(LaunchFlagsTest, DefaultsAreTheOptionsDefaults) {
  const Outcome o = Launch({"--config", "e.json"});
  EXPECT_EQ(o.code, 0);
  ASSERT_TRUE(got_.has_value());
  const deploy::LocalSearchOptions defaults;
  EXPECT_EQ(got_->config, "e.json");
  EXPECT_EQ(got_->workers, defaults.workers);
  EXPECT_EQ(got_->dir, "");
  EXPECT_EQ(got_->db, "");
  EXPECT_EQ(got_->report, "");
  EXPECT_EQ(got_->listen, "127.0.0.1:0");
  EXPECT_EQ(got_->device, "cpu");
  EXPECT_EQ(got_->threads, 0);
  EXPECT_EQ(got_->top, 5);
  EXPECT_FALSE(got_->simulate);
  EXPECT_EQ(got_->max_restarts_per_worker, -1);
  EXPECT_FALSE(got_->binary.empty());  // This test's own executable.
  EXPECT_NE(got_->stop, nullptr);
  EXPECT_FALSE(got_->stop->load());
}

TEST_F(LaunchFlagsTest, EveryFlagReachesItsOption) {
  const Outcome o =
      Launch({"--config", "e.json", "--workers", "3", "--dir", "d", "--db", "s.db", "--listen", "0.0.0.0:7", "--device",
              "cuda:1", "--threads", "2", "--report", "r.html", "--top", "9", "--simulate"});
  EXPECT_EQ(o.code, 0) << o.err;
  ASSERT_TRUE(got_.has_value());
  EXPECT_EQ(got_->workers, 3);
  EXPECT_EQ(got_->dir, "d");
  EXPECT_EQ(got_->db, "s.db");
  EXPECT_EQ(got_->listen, "0.0.0.0:7");
  EXPECT_EQ(got_->device, "cuda:1");
  EXPECT_EQ(got_->threads, 2);
  EXPECT_EQ(got_->report, "r.html");
  EXPECT_EQ(got_->top, 9);
  EXPECT_TRUE(got_->simulate);
}

TEST_F(LaunchFlagsTest, AFlagErrorRunsNothing) {
  const Outcome o = Launch({"--config", "e.json", "--threads", "0"});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_FALSE(got_.has_value());
}

TEST_F(LaunchFlagsTest, TheOutcomeBecomesTheExitCode) {
  result_ = absl::InvalidArgumentError("e.json: name: required");
  Outcome o = Launch({"--config", "e.json"});
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_EQ(o.err, "vertebra: e.json: name: required\n");

  result_ = absl::InternalError("the controller exited with status 3: see c.log");
  o = Launch({"--config", "e.json"});
  EXPECT_EQ(o.code, kExitFailure);
  EXPECT_EQ(o.err, "vertebra: the controller exited with status 3: see c.log\n");

  result_ = absl::CancelledError("stopped");  // It has said so itself.
  o = Launch({"--config", "e.json"});
  EXPECT_EQ(o.code, kExitInterrupted);
  EXPECT_EQ(o.err, "");
}

}  // namespace
}  // namespace vertebra::cli
