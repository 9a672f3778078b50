// A small SVG chart kit for the report: scales, tick values, a chart with axes and a legend row,
// and compact paths for thousands of dots and for long lines. Output is deterministic text;
// nothing here knows about trials. Not thread-safe per object; objects are cheap.
#ifndef VERTEBRA_INSPECT_CHART_H_
#define VERTEBRA_INSPECT_CHART_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace vertebra::inspect {

// Every chart has the same width so that the page reads as one column.
constexpr double kChartWidth = 1100;
constexpr double kChartHeight = 340;
constexpr double kPlotLeft = 70;  // Room for the y tick labels and the axis title.
constexpr double kPlotRight = 20;
constexpr double kPlotTop = 34;     // Room for the legend, one row above the plot.
constexpr double kPlotBottom = 46;  // Room for the x tick labels and the axis title.
// Bars (the timeline's leases) and their legend mark.
constexpr double kBarWidth = 10;

// A linear or logarithmic map from data to pixels.
struct Scale {
  double lo = 0, hi = 1;
  double px_lo = 0, px_hi = 1;
  bool log = false;
  double operator()(double v) const;
};

// Widens [lo, hi] by a margin on each side and away from zero width.
std::pair<double, double> Padded(double lo, double hi, double fraction);

// Round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi].
std::vector<double> LinearTicks(double lo, double hi, int target);
// 1, 2 and 5 times the powers of ten inside [lo, hi] (lo > 0); linear ticks when fewer than 3.
std::vector<double> LogTicks(double lo, double hi);
// "0" near zero, else the shortest %g form.
std::string TickLabel(double v);

// A chart's SVG under construction: the plot area, its scales, and the legend row.
class Chart {
 public:
  // A chart `height` pixels high, the plot `left` and `right` pixels in from the sides; the
  // scales' pixel ranges are set here.
  Chart(double height, double left, double right, Scale x, Scale y);

  const Scale& x() const { return x_; }
  const Scale& y() const { return y_; }
  double plot_left() const { return x_.px_lo; }
  double plot_right() const { return x_.px_hi; }
  double plot_bottom() const { return y_.px_lo; }

  // The grid, the tick labels, the frame and the axis titles (no y title when empty).
  void Axes(const std::vector<double>& x_ticks, const std::function<std::string(double)>& x_label,
            const std::string& x_title, const std::vector<double>& y_ticks, const std::string& y_title);

  // Raw SVG markup appended to the plot.
  void Raw(const std::string& markup) { body_ += markup; }

  // One legend entry, right of the previous one: a dot, a line, or a bar in `colour`.
  enum class Mark { kDot, kLine, kBar };
  void Legend(Mark mark, const std::string& colour, const std::string& label);

  // The whole <svg> element; `label` is its accessible name.
  std::string Svg(const std::string& label) const;

 private:
  double height_;
  Scale x_, y_;
  std::string body_;
  double legend_x_ = -1;
};

// Points drawn as one path of relative moves (short numbers), row by row; a point whose small
// pixel cell already has one is dropped.
class DotPath {
 public:
  void Add(double x, double y);
  bool empty() const { return points_.empty(); }
  // Empty when there are no points. A series of few points is drawn larger and stronger.
  std::string Svg(const std::string& colour, double width, double opacity, const std::string& title = "") const;

 private:
  std::unordered_set<int64_t> seen_;
  std::vector<std::pair<int, int>> points_;  // (y, x) in pixels.
};

// A polyline that keeps at most one vertex per pixel column (the last one in it).
class LinePath {
 public:
  void Add(double x, double y);
  // Empty when there are no points.
  std::string Svg(const std::string& colour, double width);

 private:
  void Flush();
  std::string d_;
  long last_x_ = std::numeric_limits<long>::min();
  std::pair<double, double> pending_;
  bool has_pending_ = false;
};

}  // namespace vertebra::inspect

#endif  // VERTEBRA_INSPECT_CHART_H_
