#include "inspect/chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text_util.h"

namespace vertebra::inspect {
namespace {

// Of the dots of one series that fall in the same kDotCell x kDotCell pixels only the first is
// drawn: a dot covers most of its cell's neighbours anyway.
constexpr int kDotCell = 2;
// A series of fewer dots than this is drawn larger and stronger: there is nothing to crowd.
constexpr size_t kFewDots = 1000;
// Legend text width per character at the chart's font size (a generous estimate).
constexpr double kCharWidth = 6.4;

}  // namespace

double Scale::operator()(double v) const {
  if (log) {
    const double l = std::log10(std::max(v, 1e-300));
    return px_lo + (l - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * (px_hi - px_lo);
  }
  return px_lo + (v - lo) / (hi - lo) * (px_hi - px_lo);
}

std::pair<double, double> Padded(double lo, double hi, double fraction) {
  if (!(hi > lo)) {
    const double pad = std::max(std::abs(lo) * 0.05, 0.01);
    return {lo - pad, hi + pad};
  }
  const double pad = (hi - lo) * fraction;
  return {lo - pad, hi + pad};
}

std::vector<double> LinearTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  for (double k = std::ceil(lo / step); k * step <= hi + step * 1e-9; k += 1) ticks.push_back(k * step);
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  std::vector<double> ticks;
  for (int d = static_cast<int>(std::floor(std::log10(lo))); d <= static_cast<int>(std::ceil(std::log10(hi))); ++d) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10, d);
      if (v >= lo && v <= hi) ticks.push_back(v);
    }
  }
  if (ticks.size() < 3) return LinearTicks(lo, hi, 5);
  return ticks;
}

std::string TickLabel(double v) {
  if (std::abs(v) < 1e-12) return "0";
  return absl::StrFormat("%g", v);
}

Chart::Chart(double height, double left, double right, Scale x, Scale y) : height_(height), x_(x), y_(y) {
  x_.px_lo = left;
  x_.px_hi = kChartWidth - right;
  y_.px_lo = height - kPlotBottom;
  y_.px_hi = kPlotTop;
}

void Chart::Axes(const std::vector<double>& x_ticks, const std::function<std::string(double)>& x_label,
                 const std::string& x_title, const std::vector<double>& y_ticks, const std::string& y_title) {
  std::string grid;
  for (double t : x_ticks) {
    const double px = x_(t);
    absl::StrAppendFormat(&grid, "M%.1f %.1fV%.1f", px, y_.px_lo, y_.px_hi);
    absl::StrAppendFormat(&body_, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", px, y_.px_lo + 15,
                          XmlEscape(x_label(t)));
  }
  for (double t : y_ticks) {
    const double py = y_(t);
    absl::StrAppendFormat(&grid, "M%.1f %.1fH%.1f", x_.px_lo, py, x_.px_hi);
    absl::StrAppendFormat(&body_, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", x_.px_lo - 6, py + 4,
                          XmlEscape(TickLabel(t)));
  }
  absl::StrAppendFormat(&body_, "<path class=\"grid\" d=\"%s\"/>", grid);
  absl::StrAppendFormat(&body_, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
                        x_.px_lo, y_.px_hi, x_.px_hi - x_.px_lo, y_.px_lo - y_.px_hi);
  absl::StrAppendFormat(&body_, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                        (x_.px_lo + x_.px_hi) / 2, height_ - 8, XmlEscape(x_title));
  if (!y_title.empty()) {
    absl::StrAppendFormat(&body_,
                          "<text class=\"axis\" transform=\"translate(16 %.1f) rotate(-90)\" "
                          "text-anchor=\"middle\">%s</text>",
                          (y_.px_lo + y_.px_hi) / 2, XmlEscape(y_title));
  }
}

void Chart::Legend(Mark mark, const std::string& colour, const std::string& label) {
  const double x = legend_x_ < 0 ? x_.px_lo : legend_x_;
  const double y = kPlotTop - 16;
  legend_x_ = x + 40 + kCharWidth * label.size();
  switch (mark) {
    case Mark::kDot:
      absl::StrAppendFormat(&body_,
                            "<path d=\"M%.1f %.1fh0\" stroke=\"%s\" stroke-width=\"7\" stroke-linecap=\"round\"/>",
                            x + 8, y, colour);
      break;
    case Mark::kLine:
      absl::StrAppendFormat(&body_, "<path d=\"M%.1f %.1fh16\" stroke=\"%s\" stroke-width=\"2.5\"/>", x, y, colour);
      break;
    case Mark::kBar:
      absl::StrAppendFormat(&body_, "<path d=\"M%.1f %.1fh16\" stroke=\"%s\" stroke-width=\"%.0f\"/>", x, y, colour,
                            kBarWidth);
      break;
  }
  absl::StrAppendFormat(&body_, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", x + 22, y + 4, XmlEscape(label));
}

std::string Chart::Svg(const std::string& label) const {
  return absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
      "aria-label=\"%s\">%s</svg>\n",
      kChartWidth, height_, kChartWidth, height_, XmlEscape(label), body_);
}

void DotPath::Add(double x, double y) {
  const int ix = static_cast<int>(std::lround(x));
  const int iy = static_cast<int>(std::lround(y));
  const int64_t cell = (static_cast<int64_t>(iy / kDotCell) << 32) | static_cast<uint32_t>(ix / kDotCell);
  if (seen_.insert(cell).second) points_.push_back({iy, ix});
}

std::string DotPath::Svg(const std::string& colour, double width, double opacity, const std::string& title) const {
  if (points_.empty()) return "";
  if (points_.size() < kFewDots) {
    width *= 1.5;
    opacity = std::min(1.0, opacity * 1.7);
  }
  std::vector<std::pair<int, int>> sorted = points_;
  std::sort(sorted.begin(), sorted.end());
  std::string d = absl::StrFormat("M%d %dh0", sorted[0].second, sorted[0].first);
  for (size_t i = 1; i < sorted.size(); ++i) {
    absl::StrAppendFormat(&d, "m%d %dh0", sorted[i].second - sorted[i - 1].second,
                          sorted[i].first - sorted[i - 1].first);
  }
  return absl::StrFormat(
      "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linecap=\"round\" "
      "opacity=\"%.2f\">%s</path>",
      d, colour, width, opacity, title.empty() ? "" : absl::StrCat("<title>", XmlEscape(title), "</title>"));
}

void LinePath::Add(double x, double y) {
  if (!d_.empty() && std::lround(x) == last_x_) {
    pending_ = {x, y};
    has_pending_ = true;
    return;
  }
  Flush();
  absl::StrAppendFormat(&d_, "%s%.1f %.1f", d_.empty() ? "M" : "L", x, y);
  last_x_ = std::lround(x);
}

std::string LinePath::Svg(const std::string& colour, double width) {
  Flush();
  if (d_.empty()) return "";
  return absl::StrFormat("<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"/>", d_, colour, width);
}

void LinePath::Flush() {
  if (!has_pending_) return;
  absl::StrAppendFormat(&d_, "L%.1f %.1f", pending_.first, pending_.second);
  has_pending_ = false;
}

}  // namespace vertebra::inspect
