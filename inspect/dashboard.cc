#include "inspect/dashboard.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/file_util.h"
#include "common/text_util.h"
#include "common/token.h"
#include "inspect/chart.h"
#include "inspect/report.h"
#include "inspect/report_sections.h"  // UtcTime, as the report writes times.
#include "inspect/show.h"
#include "inspect/trials.h"
#include "search_spaces/draw.h"
#include "search_spaces/proxy.h"

namespace vertebra::inspect {
namespace {

namespace ss = ::vertebra::search_spaces;

constexpr char kTokenCookie[] = "vertebra_token";
// Cached pages kept at most (one per trial page seen): old ones go first past this.
constexpr size_t kMaxCachedPages = 256;
// The shortest refresh: a page regenerated more often would load the database for nothing.
constexpr double kMinRefreshSeconds = 1;
// Colours of the training curve's rungs, lowest first (as the report's rung colours).
constexpr const char* kCurveColours[] = {"#8e9aa6", "#e67e22", "#1f5fa8", "#a569bd", "#45b39d", "#c49a3a"};
constexpr double kCurveHeight = 300;

constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;margin:0;
  background:#f4f5f7}
main{max-width:1140px;margin:0 auto;padding:16px 20px 40px;background:#fff}
h1{font-size:24px;margin:8px 0 12px}h2{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #ddd}
nav a{margin-right:14px;color:#1f5fa8}
.error{background:#fdecea;border:2px solid #c0392b;padding:8px 12px}
table.list{border-collapse:collapse;font-size:13px}
table.list th,table.list td{border-bottom:1px solid #e3e3e3;padding:3px 10px 3px 0;text-align:left}
pre{font-size:12px;background:#f7f7f7;padding:8px;overflow-x:auto}
svg{max-width:100%;height:auto}
svg.chart{display:block;font-size:11px;fill:#333}
svg.chart text.axis{font-size:12px;fill:#444}
svg.chart .grid{stroke:#ececec;fill:none}
svg.chart .frame{fill:none;stroke:#bbb}
)css";

// Inline, so that it looks the same above the report, which brings its own style sheet.
constexpr const char* kLiveStyle =
    "font-size:13px;color:#444;background:#eef4fb;border-left:3px solid #1f5fa8;padding:4px 10px";

std::string RefreshMeta(double seconds) {
  return absl::StrFormat("<meta http-equiv=\"refresh\" content=\"%d\">\n", static_cast<int>(std::ceil(seconds)));
}

// A whole page of the dashboard's own (the report brings its own).
std::string Page(const std::string& title, double refresh_seconds, const std::string& body) {
  return absl::StrFormat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n%s<title>%s</title>\n"
      "<style>%s</style>\n</head>\n<body>\n<main>\n%s</main>\n</body>\n</html>\n",
      refresh_seconds > 0 ? RefreshMeta(refresh_seconds) : "", XmlEscape(title), kStyle, body);
}

HttpResponse ErrorPage(int status, const std::string& title, const std::string& message, double refresh_seconds) {
  HttpResponse r;
  r.status = status;
  r.body = Page(title, refresh_seconds,
                absl::StrFormat("<nav><a href=\"/\">report</a><a href=\"/trials\">all trials</a></nav>\n<h1>%s</h1>\n"
                                "<p class=\"error\">%s</p>\n",
                                XmlEscape(title), XmlEscape(message)));
  return r;
}

// The line above every page: where it comes from, when it was made, how often it reloads.
std::string LiveBar(const std::string& source, double now, double refresh_seconds, const std::string& root) {
  return absl::StrFormat(
      "<p class=\"live\" style=\"%s\">Live from <code>%s</code>, read-only; regenerated %s, reloading every %g s. "
      "<a href=\"%s\">report</a> &middot; <a href=\"%strials\">all trials</a></p>\n",
      kLiveStyle, XmlEscape(source), report_internal::UtcTime(now), refresh_seconds, root, root);
}

// The trial's training curve: loss against step, one line per rung.
std::string CurveSvg(const std::vector<v1::MetricPoint>& points) {
  double max_step = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const v1::MetricPoint& p : points) {
    if (!std::isfinite(p.loss())) continue;
    max_step = std::max(max_step, static_cast<double>(p.step()));
    lo = std::min(lo, p.loss());
    hi = std::max(hi, p.loss());
  }
  if (!(hi >= lo)) return "<p>No training curve reported yet.</p>\n";
  const auto [y_lo, y_hi] = Padded(lo, hi, 0.05);
  Chart chart(kCurveHeight, kPlotLeft, kPlotRight, Scale{0, std::max(max_step, 1.0)}, Scale{y_lo, y_hi});
  chart.Axes(LinearTicks(0, std::max(max_step, 1.0), 8), TickLabel, "step", LinearTicks(y_lo, y_hi, 6), "loss");
  std::map<int, LinePath> by_rung;
  for (const v1::MetricPoint& p : points) {
    if (std::isfinite(p.loss())) by_rung[p.rung()].Add(chart.x()(p.step()), chart.y()(p.loss()));
  }
  constexpr int kColours = sizeof(kCurveColours) / sizeof(kCurveColours[0]);
  for (auto& [rung, line] : by_rung) {
    const char* colour = kCurveColours[std::min(rung, kColours - 1)];
    chart.Raw(line.Svg(colour, 1.5));
    chart.Legend(Chart::Mark::kLine, colour, absl::StrFormat("rung %d", rung));
  }
  return chart.Svg("training curve: loss against step per rung");
}

std::string TrialsPage(const std::vector<v1::Trial>& trials) {
  std::vector<v1::Trial> newest_first(trials.rbegin(), trials.rend());
  std::string rows;
  for (const v1::Trial& t : newest_first) {
    const v1::RungResult* r = TopResult(t);
    absl::StrAppendFormat(&rows,
                          "<tr><td><a href=\"trial/%d\">%d</a></td><td>%s</td><td>%d</td><td>%s</td><td>%.2f M</td>"
                          "<td>%.2f M</td><td><code>%s</code></td><td>%s</td></tr>\n",
                          t.id(), t.id(), XmlEscape(absl::AsciiStrToLower(v1::TrialState_Name(t.state()))), t.rung(),
                          r != nullptr ? absl::StrFormat("%.4f", r->ap().stats(0)) : "-", t.macs() / 1e6,
                          t.params() / 1e6, XmlEscape(t.hash().substr(0, 12)), XmlEscape(t.failure()));
  }
  return absl::StrFormat(
      "<h1>All trials</h1>\n<p id=\"trial-count\" data-trials=\"%d\">%d trials, newest first.</p>\n"
      "<table class=\"list\">\n<tr><th>trial</th><th>state</th><th>rung</th><th>AP at the highest rung</th>"
      "<th>MACs</th><th>params</th><th>hash</th><th>failure</th></tr>\n%s</table>\n",
      trials.size(), trials.size(), rows);
}

}  // namespace

DashboardPages::DashboardPages(std::string source, StoreOpener open_store, std::string token, double refresh_seconds,
                               const controller::Clock* clock)
    : source_(std::move(source)),
      open_store_(std::move(open_store)),
      token_(std::move(token)),
      refresh_seconds_(refresh_seconds),
      clock_(clock) {}

HttpResponse DashboardPages::Handle(const HttpRequest& request) {
  if (!token_.empty()) {
    const auto given = request.query.find("token");
    if (given != request.query.end()) {
      if (!ConstantTimeEquals(given->second, token_)) {
        return ErrorPage(401, "Token refused", "The token in the address is not this search's token.", 0);
      }
      // Into a cookie, and out of the address bar and the history.
      HttpResponse r;
      r.status = 303;
      // Only a path of this server ("//host/..." would leave it).
      const bool local = absl::StartsWith(request.path, "/") && !absl::StartsWith(request.path, "//");
      r.headers.emplace_back("Location", local ? request.path : "/");
      r.headers.emplace_back("Set-Cookie", absl::StrFormat("%s=%s; Path=/; HttpOnly; SameSite=Strict%s", kTokenCookie,
                                                           token_, request.https ? "; Secure" : ""));
      r.body = Page("Signed in", 0, "<p>The token is kept in a cookie.</p>");
      return r;
    }
    bool allowed = ConstantTimeEquals(request.authorization, "Bearer " + token_);
    for (absl::string_view part : absl::StrSplit(request.cookie, ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, absl::StrCat(kTokenCookie, "=")))
        allowed |= ConstantTimeEquals(std::string(part), token_);
    }
    if (!allowed) {
      return ErrorPage(401, "This dashboard needs the search's token",
                       "Open this page once with ?token=TOKEN added to its address (the token of the search's "
                       "--token-file or VERTEBRA_TOKEN); it is then kept in a cookie. Tools may send "
                       "\"Authorization: Bearer TOKEN\" instead.",
                       0);
    }
  }
  const double now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(request.path);
  if (it != cache_.end() && now - it->second.at < refresh_seconds_) return it->second.response;
  HttpResponse response = Render(request.path);
  if (cache_.size() >= kMaxCachedPages) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(),
                                   [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
    cache_.erase(oldest);
  }
  cache_[request.path] = {now, response};
  return response;
}

HttpResponse DashboardPages::Render(const std::string& path) {
  int64_t trial_id = 0;
  const bool trial_page = absl::StartsWith(path, "/trial/");
  if (trial_page && (!absl::SimpleAtoi(path.substr(7), &trial_id) || trial_id < 1)) {
    return ErrorPage(404, "No such page", absl::StrFormat("%s: a trial's page is /trial/ID with ID 1, 2, ...", path),
                     0);
  }
  if (path != "/" && path != "/trials" && !trial_page) {
    return ErrorPage(404, "No such page",
                     absl::StrFormat("%s: this dashboard has / (the report), /trials and /trial/ID", path), 0);
  }
  absl::StatusOr<std::unique_ptr<controller::Store>> store = open_store_();
  if (!store.ok()) {
    return ErrorPage(503, "The database cannot be read",
                     absl::StrFormat("%s (this page retries every %g s)", store.status().message(), refresh_seconds_),
                     refresh_seconds_);
  }
  const double now = clock_->Now();
  const std::string root = trial_page ? "../" : "/";
  HttpResponse r;
  if (path == "/") {
    ReportOptions options;
    options.source = source_;
    options.head_html = RefreshMeta(refresh_seconds_);
    options.top_html = LiveBar(source_, now, refresh_seconds_, root);
    options.trial_link = "trial/";
    absl::StatusOr<std::string> html = RenderReport(**store, options);
    if (!html.ok()) {
      return ErrorPage(503, "No report yet", absl::StrFormat("%s: %s", source_, html.status().message()),
                       refresh_seconds_);
    }
    r.body = *std::move(html);
    return r;
  }
  if (path == "/trials") {
    absl::StatusOr<std::vector<v1::Trial>> trials = AllTrials(**store);
    if (!trials.ok())
      return ErrorPage(503, "The trials cannot be read", std::string(trials.status().message()), refresh_seconds_);
    r.body = Page("All trials", refresh_seconds_, LiveBar(source_, now, refresh_seconds_, root) + TrialsPage(*trials));
    return r;
  }
  TrialDetail detail;
  absl::StatusOr<v1::Trial> trial = (*store)->GetTrial(trial_id);
  if (!trial.ok()) {
    const int status = trial.status().code() == absl::StatusCode::kNotFound ? 404 : 503;
    return ErrorPage(status, absl::StrFormat("Trial %d", trial_id), std::string(trial.status().message()),
                     status == 404 ? 0 : refresh_seconds_);
  }
  detail.trial = *std::move(trial);
  absl::StatusOr<std::vector<v1::MetricPoint>> metrics = (*store)->Metrics(trial_id);
  absl::StatusOr<controller::Snapshot> snapshot = (*store)->Load();
  if (!metrics.ok() || !snapshot.ok() || !snapshot->experiment) {
    return ErrorPage(503, absl::StrFormat("Trial %d", trial_id), "the database cannot be read", refresh_seconds_);
  }
  detail.metrics = *std::move(metrics);
  detail.experiment = *snapshot->experiment;
  absl::StatusOr<std::string> text = ShowText(detail);
  if (!text.ok()) return ErrorPage(500, absl::StrFormat("Trial %d", trial_id), std::string(text.status().message()), 0);
  std::string drawing;
  if (absl::StatusOr<ss::ResolvedProxy> model = ss::ResolveProxy(detail.trial.spec(), detail.experiment.proxy());
      model.ok()) {
    drawing =
        ss::DrawSvg(model->graph, absl::StrFormat("trial %d  (hash %s)", trial_id, detail.trial.hash().substr(0, 12)));
    if (drawing.rfind("<?xml", 0) == 0) drawing.erase(0, drawing.find('\n') + 1);
  }
  r.body = Page(absl::StrFormat("Trial %d of %s", trial_id, detail.experiment.name()), refresh_seconds_,
                absl::StrCat(LiveBar(source_, now, refresh_seconds_, root),
                             absl::StrFormat("<h1>Trial %d</h1>\n<h2>Drawing</h2>\n", trial_id), drawing,
                             "<h2>Training curve</h2>\n", CurveSvg(detail.metrics),
                             "<h2>As <code>vertebra show</code> prints it</h2>\n<pre>", XmlEscape(*text), "</pre>\n"));
  return r;
}

struct DashboardServer::Impl {
  std::unique_ptr<DashboardPages> pages;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::atomic<bool> listened{false};  // listen_after_bind returned.
};

DashboardServer::DashboardServer(std::unique_ptr<Impl> impl, int port) : impl_(std::move(impl)), port_(port) {}

DashboardServer::~DashboardServer() { Shutdown(); }

void DashboardServer::Shutdown() {
  if (!impl_ || !impl_->server) return;
  // A stop() before the listening loop has started is lost: wait for it to run (or to have ended).
  while (!impl_->server->is_running() && !impl_->listened.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->server.reset();
}

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(const DashboardOptions& o) {
  if (o.db.empty()) return absl::InvalidArgumentError("--db: a database is required");
  if (!(o.refresh_seconds >= kMinRefreshSeconds)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--refresh %g: must be at least %g s", o.refresh_seconds, kMinRefreshSeconds));
  }
  if (absl::Status s = CheckListenAddress(o.listen); !s.ok()) return s;
  if (absl::StartsWith(o.listen, "unix:")) {
    return absl::InvalidArgumentError(absl::StrFormat("--listen %s: the dashboard listens on HOST:PORT", o.listen));
  }
  if (o.token.empty() && !IsLoopback(o.listen)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "listen %s: a bearer token is required beyond loopback (--token-file or VERTEBRA_TOKEN)", o.listen));
  }
  const size_t colon = o.listen.rfind(':');
  std::string host = o.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const int port = std::stoi(o.listen.substr(colon + 1));  // CheckListenAddress: 0..65535 in digits.

  auto impl = std::make_unique<Impl>();
  const bool https = !o.tls_cert.empty() || !o.tls_key.empty();
  if (https) {
    if (o.tls_cert.empty() || o.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key: give both, or neither");
    }
    for (const auto& [flag, path] : {std::pair{"--tls-cert", o.tls_cert}, std::pair{"--tls-key", o.tls_key}}) {
      if (!ReadFile(path).ok()) return absl::InvalidArgumentError(absl::StrFormat("%s %s: cannot read", flag, path));
    }
    auto ssl = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--tls-cert %s / --tls-key %s: not a PEM certificate and its key", o.tls_cert, o.tls_key));
    }
    impl->server = std::move(ssl);
  } else {
    impl->server = std::make_unique<httplib::Server>();
  }
  const std::string db = o.db;
  impl->pages = std::make_unique<DashboardPages>(
      db,
      [db]() {
        controller::SqliteOptions sqlite;
        sqlite.read_only = true;
        return controller::OpenSqliteStore(db, sqlite);
      },
      o.token, o.refresh_seconds, controller::RealClock());
  DashboardPages* pages = impl->pages.get();
  impl->server->Get(".*", [pages, https](const httplib::Request& req, httplib::Response& res) {
    HttpRequest request;
    request.path = req.path;
    for (const auto& [key, value] : req.params) request.query.emplace(key, value);
    request.authorization = req.get_header_value("Authorization");
    request.cookie = req.get_header_value("Cookie");
    request.https = https;
    const HttpResponse r = pages->Handle(request);
    res.status = r.status;
    for (const auto& [key, value] : r.headers) res.set_header(key, value);
    // No scripts, nothing fetched: the pages are inline HTML, CSS and SVG.
    res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-store");
    res.set_content(r.body, r.content_type.c_str());
  });
  const int bound =
      port == 0 ? impl->server->bind_to_any_port(host) : (impl->server->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrFormat("--listen %s: cannot listen there (in use, or not this host's address)", o.listen));
  }
  httplib::Server* server = impl->server.get();
  std::atomic<bool>* listened = &impl->listened;
  impl->thread = std::thread([server, listened] {
    server->listen_after_bind();
    listened->store(true);
  });
  return std::unique_ptr<DashboardServer>(new DashboardServer(std::move(impl), bound));
}

}  // namespace vertebra::inspect
