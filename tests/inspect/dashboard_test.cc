// The dashboard's pages (inspect/dashboard.h) against a SQLite database in a temporary folder,
// without sockets: the live report and its regeneration period, the trial pages, error pages for
// what is missing, the token rules, and a database left as it was. The server on a socket, in a
// browser, is tests/dashboard_test.sh.
#include "inspect/dashboard.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "controller/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/arch_json.h"
#include "search_spaces/arch_spec.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace vertebra::inspect {
namespace {

namespace ctl = ::vertebra::controller;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kRefresh = 5;

std::string FileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class DashboardTest : public ::testing::Test {
 protected:
  // The database with the experiment and trials 1..n, trial 1 with a training curve.
  void MakeSearch(int n) {
    absl::StatusOr<std::unique_ptr<ctl::Store>> store = ctl::OpenSqliteStore(db_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    ctl::Mutation m;
    absl::StatusOr<ctl::Snapshot> snap = (*store)->Load();
    ASSERT_TRUE(snap.ok());
    if (!snap->experiment) {
      absl::StatusOr<v1::ExperimentConfig> config =
          ctl::ParseExperimentConfig(R"({"name": "dash", "budget": {"trials": 10}})", "test.json");
      ASSERT_TRUE(config.ok()) << config.status();
      m.create_experiment = *config;
      m.experiment_state = v1::EXPERIMENT_RUNNING;
    }
    for (int id = static_cast<int>(snap->trials.size()) + 1; id <= n; ++id) {
      v1::Trial t;
      t.set_id(id);
      *t.mutable_spec() = *search_spaces::LoadArchSpec("spinenet-49");
      t.set_hash(search_spaces::ArchHash(t.spec()));
      t.set_state(v1::DONE);
      v1::RungResult* r = t.add_results();
      r->set_steps(100);
      r->set_worker("w-1");
      for (int i = 0; i < 12; ++i) r->mutable_ap()->add_stats(0.1 * id);
      m.trials.push_back(t);
      if (id == 1) {
        for (int step = 10; step <= 100; step += 10) {
          v1::MetricPoint p;
          p.set_trial(1);
          p.set_step(step);
          p.set_loss(2.0 - step / 100.0);
          m.metrics.push_back(p);
        }
      }
    }
    ASSERT_TRUE((*store)->Apply(m).ok());
  }

  DashboardPages Pages(const std::string& token = "") {
    const std::string db = db_.string();
    return DashboardPages(
        "search.db",
        [db]() {
          ctl::SqliteOptions options;
          options.read_only = true;
          return ctl::OpenSqliteStore(db, options);
        },
        token, kRefresh, &clock_);
  }

  static HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.path = path;
    return r;
  }

  test_util::TempDir temp_{"dashboard"};
  const std::filesystem::path db_ = temp_.path() / "search.db";
  test_util::FakeClock clock_;
};

TEST_F(DashboardTest, ReportIsLiveAndRegeneratedAtMostEveryRefresh) {
  MakeSearch(1);
  DashboardPages pages = Pages();
  HttpResponse first = pages.Handle(Get("/"));
  EXPECT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("<meta http-equiv=\"refresh\" content=\"5\">"));
  EXPECT_THAT(first.body, HasSubstr("Live from <code>search.db</code>, read-only"));
  EXPECT_THAT(first.body, HasSubstr("1 in all"));
  EXPECT_THAT(first.body, HasSubstr("<a href=\"trial/1\">1</a>"));

  MakeSearch(3);
  clock_.Advance(kRefresh - 1);
  EXPECT_EQ(pages.Handle(Get("/")).body, first.body) << "regenerated before the refresh period";
  clock_.Advance(1);
  EXPECT_THAT(pages.Handle(Get("/")).body, HasSubstr("3 in all"));
  EXPECT_THAT(pages.Handle(Get("/trials")).body, HasSubstr("data-trials=\"3\""));
}

TEST_F(DashboardTest, TrialPageHasWhatShowPrintsTheDrawingAndTheCurve) {
  MakeSearch(2);
  DashboardPages pages = Pages();
  HttpResponse r = pages.Handle(Get("/trial/1"));
  EXPECT_EQ(r.status, 200);
  for (const char* part : {"<h1>Trial 1</h1>", "== spec ==", "== training curve ==", "<svg", "<title>trial 1",
                           "training curve: loss against step per rung", "href=\"../trials\""}) {
    EXPECT_THAT(r.body, HasSubstr(part));
  }
  EXPECT_THAT(pages.Handle(Get("/trial/2")).body, HasSubstr("No training curve reported yet"));
}

TEST_F(DashboardTest, WhatIsNotThereGivesAnErrorPage) {
  DashboardPages pages = Pages();
  HttpResponse missing = pages.Handle(Get("/"));
  EXPECT_EQ(missing.status, 503);
  EXPECT_THAT(missing.body, HasSubstr("search.db"));
  EXPECT_THAT(missing.body, HasSubstr("http-equiv=\"refresh\"")) << "it retries";

  MakeSearch(1);
  clock_.Advance(kRefresh);
  EXPECT_EQ(pages.Handle(Get("/")).status, 200) << "the database appeared";
  for (const char* path : {"/trial/99", "/trial/abc", "/trial/0", "/trial/", "/nope", "/../etc/passwd"}) {
    const HttpResponse r = pages.Handle(Get(path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_THAT(r.body, HasSubstr("class=\"error\"")) << path;
  }
  EXPECT_THAT(pages.Handle(Get("/trial/99")).body, HasSubstr("99"));
}

TEST_F(DashboardTest, TokenComesAsHeaderOrOnceInTheAddressThenAsCookie) {
  MakeSearch(1);
  DashboardPages pages = Pages("s3cret");
  EXPECT_EQ(pages.Handle(Get("/")).status, 401);
  EXPECT_THAT(pages.Handle(Get("/")).body, Not(HasSubstr("s3cret")));

  HttpRequest header = Get("/");
  header.authorization = "Bearer s3cret";
  EXPECT_EQ(pages.Handle(header).status, 200);
  header.authorization = "Bearer s3cre";
  EXPECT_EQ(pages.Handle(header).status, 401);

  HttpRequest wrong = Get("/trials");
  wrong.query["token"] = "nope";
  EXPECT_EQ(pages.Handle(wrong).status, 401);
  HttpRequest once = Get("/trials");
  once.query["token"] = "s3cret";
  const HttpResponse signed_in = pages.Handle(once);
  EXPECT_EQ(signed_in.status, 303);
  EXPECT_THAT(signed_in.headers, ::testing::Contains(std::pair<std::string, std::string>("Location", "/trials")));
  EXPECT_THAT(signed_in.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                     "Set-Cookie", "vertebra_token=s3cret; Path=/; HttpOnly; SameSite=Strict")));

  HttpRequest elsewhere = Get("//example.com/");
  elsewhere.query["token"] = "s3cret";
  EXPECT_THAT(pages.Handle(elsewhere).headers,
              ::testing::Contains(std::pair<std::string, std::string>("Location", "/")));

  HttpRequest cookie = Get("/trials");
  cookie.cookie = "other=1; vertebra_token=s3cret";
  EXPECT_EQ(pages.Handle(cookie).status, 200);
  cookie.cookie = "vertebra_token=s3cretX";
  EXPECT_EQ(pages.Handle(cookie).status, 401);
}

TEST_F(DashboardTest, NeverWritesTheDatabase) {
  MakeSearch(2);
  const std::string before = FileBytes(db_);
  DashboardPages pages = Pages();
  for (const char* path : {"/", "/trials", "/trial/1", "/trial/7"}) pages.Handle(Get(path));
  EXPECT_EQ(FileBytes(db_), before);
}

TEST(DashboardServerTest, RefusesBadOptionsNamingTheFlag) {
  DashboardOptions o;
  o.db = "search.db";
  o.listen = "0.0.0.0:0";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("a bearer token is required beyond loopback"));
  o.listen = "127.0.0.1:99999";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("--listen 127.0.0.1:99999"));
  o.listen = "unix:/tmp/x";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("HOST:PORT"));
  o.listen = "127.0.0.1:0";
  o.refresh_seconds = 0.5;
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("--refresh"));
  o.refresh_seconds = 5;
  o.tls_cert = "/no/such/cert.pem";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("give both"));
  o.tls_key = "/no/such/key.pem";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("--tls-cert /no/such/cert.pem"));
  o.tls_cert = o.tls_key = "";
  o.db = "";
  EXPECT_THAT(DashboardServer::Start(o).status().message(), HasSubstr("--db"));

  o.db = "/no/such/search.db";  // Served as an error page, not refused: the search may start later.
  absl::StatusOr<std::unique_ptr<DashboardServer>> server = DashboardServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  (*server)->Shutdown();
}

}  // namespace
}  // namespace vertebra::inspect
