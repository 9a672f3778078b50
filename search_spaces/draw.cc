#include "search_spaces/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "common/text_util.h"
#include "search_spaces/arch_spec.h"

namespace vertebra::search_spaces {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared helpers.

const ResolvedBlock* BlockOf(const ResolvedGraph& g, int feature) {
  const int row = feature - kNumStemFeatures;
  if (row < 0 || row >= static_cast<int>(g.blocks.size())) return nullptr;
  return &g.blocks[row];
}

bool IsDead(const ResolvedGraph& g, int feature) {
  const ResolvedBlock* b = BlockOf(g, feature);
  return b != nullptr && !b->reaches_endpoint;
}

// "7, 12 (+11)": a block's parents in spec order, extra parents in parentheses.
std::string ParentList(const ResolvedBlock& b) {
  std::string s = absl::StrCat(b.edges[0].parent, ", ", b.edges[1].parent);
  if (!b.extra_parents.empty()) {
    s += " (";
    for (size_t i = 0; i < b.extra_parents.size(); ++i) {
      absl::StrAppend(&s, i == 0 ? "+" : ", +", b.extra_parents[i]);
    }
    s += ")";
  }
  return s;
}

// "15 blocks (11 bottleneck, 4 residual), input 640x640".
std::string Summary(const ResolvedGraph& g) {
  int bottlenecks = 0, dead = 0;
  for (const ResolvedBlock& b : g.blocks) {
    if (b.feature.type == v1::BOTTLENECK) ++bottlenecks;
    if (!b.reaches_endpoint) ++dead;
  }
  const int n = static_cast<int>(g.blocks.size());
  std::string s = absl::StrFormat("%d blocks (%d bottleneck, %d residual), input %dx%d", n, bottlenecks,
                                  n - bottlenecks, g.input.height, g.input.width);
  if (dead > 0) absl::StrAppendFormat(&s, ", %d dead", dead);
  return s;
}

// ---------------------------------------------------------------------------------------------
// SVG.

// Layout, in SVG user units (pixels at 100 %).
constexpr double kColumn = 58;     // One feature per column: room for a node and a gap.
constexpr double kRow = 66;        // One level per row: room for a node and its P-label.
constexpr double kMargin = 38;     // Left edge of the title and the legend.
constexpr double kLeft = 78;       // Level labels and their sizes.
constexpr double kRight = 24;      // Room for the last node's outline and P-label.
constexpr double kTop = 74;        // Title and subtitle.
constexpr double kAxisBand = 34;   // Below the plot: "stem" bracket and build-order arrow.
constexpr double kLegendRow = 24;  // Each of the two legend rows.
constexpr double kRectHalfW = 17, kRectHalfH = 11, kRectCorner = 6;  // Bottleneck and stem.
constexpr double kCircleR = 12;                                      // Residual.
constexpr double kOutputStroke = 3.2;                                // Thick outline of output blocks.
constexpr double kDeadOpacity = 0.35;                                // Dead compute fades but stays visible.
constexpr double kNodeClearance = 4;  // Curves keep this far from nodes they do not touch.
// Curve routing (see Route): a curve that would run through other nodes is bowed vertically in
// steps of kBowStep up to kMaxBow, or leaves / enters its nodes vertically instead.
constexpr double kBowStep = 6;
constexpr double kMaxBow = 150;
constexpr double kVerticalAnchorCost = 4;  // Counted like 4 bow steps: side anchors read best.
constexpr double kLabelHeight = 19;        // The P-label above an output node, with its gap.
// Points per curve for the collision test: enough that a sample falls inside any node the
// curve crosses, whatever the curve's length (cost stays linear in the span).
constexpr int kSamplesBase = 16;
constexpr int kSamplesPerColumn = 12;

constexpr char kFont[] = "Helvetica, Arial, sans-serif";
constexpr char kBottleneckFill[] = "#4c78a8";
constexpr char kResidualFill[] = "#f2a03d";
constexpr char kStemFill[] = "#a0a0a0";
constexpr char kDeadFill[] = "#d4d4d4";
constexpr char kNodeStroke[] = "#2b2b2b";
constexpr char kUpColour[] = "#2e9e5b";
constexpr char kDownColour[] = "#d1495b";
constexpr char kSameColour[] = "#7a7a7a";
constexpr char kExtraColour[] = "#8e44ad";
constexpr char kDeadEdgeColour[] = "#bdbdbd";
constexpr char kGuideColour[] = "#e4e4e4";

struct Point {
  double x = 0, y = 0;
};

struct Layout {
  int levels = kMaxLevel - kMinLevel + 1;
  double plot_width = 0;
  double width = 0;
  double height = 0;
  double plot_top = kTop;
  double plot_bottom = 0;

  double X(int feature) const { return kLeft + kColumn * (feature + 0.5); }
  double Y(int level) const { return kTop + kRow * (kMaxLevel - level + 0.5); }
};

double HalfWidth(const Feature& f) { return f.type == v1::RESIDUAL ? kCircleR : kRectHalfW; }
double HalfHeight(const Feature& f) { return f.type == v1::RESIDUAL ? kCircleR : kRectHalfH; }

Point Bezier(const Point& p0, const Point& p1, const Point& p2, const Point& p3, double t) {
  const double u = 1 - t;
  const double a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
  return {a * p0.x + b * p1.x + c * p2.x + d * p3.x, a * p0.y + b * p1.y + c * p2.y + d * p3.y};
}

struct Curve {
  Point start, c1, c2, end;
};

// Samples of `c` that fall inside a node strictly between `parent` and `child` (or the P-label
// above an output node) or outside the plot.
int Collisions(const ResolvedGraph& g, const Layout& l, int parent, int child, const Curve& c) {
  const int samples = kSamplesBase + kSamplesPerColumn * (child - parent);
  int hits = 0;
  for (int s = 1; s < samples; ++s) {
    const Point q = Bezier(c.start, c.c1, c.c2, c.end, static_cast<double>(s) / samples);
    if (q.y < l.plot_top + 4 || q.y > l.plot_bottom - 4) ++hits;
    // Only the column under the sample can hold a node there (nodes are narrower than columns).
    const int f = static_cast<int>(std::floor((q.x - kLeft) / kColumn));
    if (f <= parent || f >= child) continue;
    const Feature& other = g.features[f];
    const double dy = q.y - l.Y(other.level);
    const double above = HalfHeight(other) + kNodeClearance + (other.is_output ? kLabelHeight : 0);
    const double below = HalfHeight(other) + kNodeClearance;
    if (std::abs(q.x - l.X(f)) <= HalfWidth(other) + kNodeClearance && dy >= -above && dy <= below) {
      ++hits;
    }
  }
  return hits;
}

// A curve from `parent` to `child` that avoids the nodes in between where it can. Candidates:
// side to side (right of the parent to left of the child, horizontal tangents) with a vertical
// bow, or, when the levels differ, leaving the parent vertically towards the child's level or
// entering the child vertically from the parent's level (never through a P-label). The
// candidate with the fewest collisions wins, then the least bent; ties keep the first, so the
// result is deterministic.
Curve Route(const ResolvedGraph& g, const Layout& l, int parent, int child) {
  const Feature& p = g.features[parent];
  const Feature& c = g.features[child];
  const double px = l.X(parent), py = l.Y(p.level), cx = l.X(child), cy = l.Y(c.level);
  const bool rising = cy < py;  // Towards a coarser level: upwards on the page.

  Curve best;
  double best_cost = -1;
  const auto consider = [&](const Curve& cv, double bend) {
    const double cost = 1000.0 * Collisions(g, l, parent, child, cv) + bend;
    if (best_cost < 0 || cost < best_cost) {
      best = cv;
      best_cost = cost;
    }
  };

  // Side to side with a bow: 0, -step, +step, -2 step, ... (upwards first).
  const Point start{px + HalfWidth(p), py};
  const Point end{cx - HalfWidth(c), cy};
  const double reach = std::max(18.0, 0.5 * (end.x - start.x));
  for (int i = 0; i <= 2 * static_cast<int>(kMaxBow / kBowStep); ++i) {
    const double bow = (i % 2 == 1 ? -1 : 1) * kBowStep * ((i + 1) / 2);
    consider({start, {start.x + reach, start.y + bow}, {end.x - reach, end.y + bow}, end}, (i + 1) / 2);
    if (best_cost < 1000) break;  // Clear of every node: larger bows only bend more.
  }
  if (py == cy) return best;

  // Leave the parent through its top (rising) or bottom, then run to the child's left side.
  if (!(rising && p.is_output)) {
    const Point s{px, rising ? py - HalfHeight(p) : py + HalfHeight(p)};
    consider({s, {s.x, s.y + 0.8 * (cy - s.y)}, {end.x - 0.6 * (end.x - s.x), end.y}, end}, kVerticalAnchorCost);
  }
  // Run from the parent's right side at its level, then enter the child from below or above.
  if (rising || !c.is_output) {
    const Point e{cx, rising ? cy + HalfHeight(c) : cy - HalfHeight(c)};
    consider({start, {start.x + 0.6 * (e.x - start.x), start.y}, {e.x, e.y + 0.8 * (py - e.y)}, e},
             kVerticalAnchorCost);
  }
  return best;
}

std::string PathData(const Curve& c) {
  return absl::StrFormat("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", c.start.x, c.start.y, c.c1.x, c.c1.y, c.c2.x,
                         c.c2.y, c.end.x, c.end.y);
}

enum class EdgeKind { kUp, kDown, kSame, kExtra };

const char* EdgeClass(EdgeKind k) {
  switch (k) {
    case EdgeKind::kUp:
      return "up";
    case EdgeKind::kDown:
      return "down";
    case EdgeKind::kSame:
      return "same";
    case EdgeKind::kExtra:
      return "extra";
  }
  return "";
}

const char* EdgeColour(EdgeKind k) {
  switch (k) {
    case EdgeKind::kUp:
      return kUpColour;
    case EdgeKind::kDown:
      return kDownColour;
    case EdgeKind::kSame:
      return kSameColour;
    case EdgeKind::kExtra:
      return kExtraColour;
  }
  return kSameColour;
}

// One arrowhead marker per edge colour (SVG 1.1 markers do not inherit the path's stroke).
void AppendMarker(std::string* out, const char* id, const char* colour) {
  absl::StrAppendFormat(out,
                        "    <marker id=\"%s\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                        "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\">"
                        "<path d=\"M0,1 L9,5 L0,9 z\" fill=\"%s\"/></marker>\n",
                        id, colour);
}

std::string EdgeTitle(const ResolvedGraph& g, int parent, int child, EdgeKind kind) {
  const Feature& p = g.features[parent];
  const Feature& c = g.features[child];
  std::string what;
  switch (kind) {
    case EdgeKind::kUp:
      what = absl::StrFormat("up-sampling x%d", 1 << (p.level - c.level));
      break;
    case EdgeKind::kDown:
      what = absl::StrFormat("down-sampling /%d", 1 << (c.level - p.level));
      break;
    case EdgeKind::kSame:
      what = "same level";
      break;
    case EdgeKind::kExtra:
      what = "extra parent, added without resampling";
      break;
  }
  return absl::StrFormat("%d -> %d: L%d -> L%d, %s", parent, child, p.level, c.level, what);
}

void AppendEdge(std::string* out, const ResolvedGraph& g, const Layout& l, int parent, int child, EdgeKind kind) {
  const bool dead = IsDead(g, child);
  const bool extra = kind == EdgeKind::kExtra;
  const std::string classes =
      absl::StrCat("edge ", extra ? "extra" : "parent ", extra ? "" : EdgeClass(kind), dead ? " dead" : "");
  const std::string id = absl::StrFormat("%s-%d-%d", extra ? "extra" : "edge", parent, child);
  absl::StrAppendFormat(out,
                        "    <path class=\"%s\" id=\"%s\" d=\"%s\" fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"%s\"%s%s marker-end=\"url(#arrow-%s)\"><title>%s</title></path>\n",
                        classes, id, PathData(Route(g, l, parent, child)), dead ? kDeadEdgeColour : EdgeColour(kind),
                        extra ? "2" : "1.6", extra ? " stroke-dasharray=\"6,4\"" : "",
                        dead ? absl::StrFormat(" opacity=\"%.2f\"", kDeadOpacity + 0.15) : "",
                        dead ? "dead" : EdgeClass(kind), XmlEscape(EdgeTitle(g, parent, child, kind)));
}

// "feature 12: L4 bottleneck, 1024 ch, 40x40, output P4, parents 5, 10".
std::string NodeTitle(const ResolvedGraph& g, const Feature& f) {
  const ResolvedBlock* b = BlockOf(g, f.index);
  std::string s = absl::StrFormat("feature %d: L%d %s%s, %d ch, %dx%d", f.index, f.level, b == nullptr ? "stem " : "",
                                  BlockTypeName(f.type), f.channels, f.size.height, f.size.width);
  if (f.is_output) absl::StrAppendFormat(&s, ", output P%d", f.level);
  if (b != nullptr) {
    absl::StrAppend(&s, ", parents ", ParentList(*b));
    if (b->repeats > 1) absl::StrAppendFormat(&s, ", %d repeats", b->repeats);
    if (!b->reaches_endpoint) absl::StrAppend(&s, ", dead: reaches no output");
  } else if (f.index > 0) {
    absl::StrAppendFormat(&s, ", after feature %d", f.index - 1);
  }
  return s;
}

// The shape of a node centred at (x, y) with the given fill and outline.
void AppendShape(std::string* out, v1::BlockType type, double x, double y, const char* fill, const char* stroke,
                 double stroke_width, std::string_view extra_attrs) {
  if (type == v1::RESIDUAL) {
    absl::StrAppendFormat(out,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\" "
                          "stroke-width=\"%.1f\"%s/>",
                          x, y, kCircleR, fill, stroke, stroke_width, extra_attrs);
  } else {
    absl::StrAppendFormat(out,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"%.1f\" "
                          "fill=\"%s\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>",
                          x - kRectHalfW, y - kRectHalfH, 2 * kRectHalfW, 2 * kRectHalfH, kRectCorner, fill, stroke,
                          stroke_width, extra_attrs);
  }
}

void AppendNode(std::string* out, const ResolvedGraph& g, const Layout& l, const Feature& f) {
  const bool stem = f.index < kNumStemFeatures;
  const bool dead = IsDead(g, f.index);
  const bool residual = f.type == v1::RESIDUAL;
  const char* fill = dead ? kDeadFill : stem ? kStemFill : residual ? kResidualFill : kBottleneckFill;
  const char* text_colour = dead ? "#555555" : residual ? "#222222" : "#ffffff";
  const double x = l.X(f.index), y = l.Y(f.level);
  std::string classes = absl::StrCat("node ", stem ? "stem" : BlockTypeName(f.type));
  if (f.is_output) classes += " output";
  if (dead) classes += " dead";
  absl::StrAppendFormat(out, "    <g class=\"%s\" id=\"feature-%d\"%s>\n      <title>%s</title>\n      ", classes,
                        f.index, dead ? absl::StrFormat(" opacity=\"%.2f\"", kDeadOpacity + 0.2) : "",
                        XmlEscape(NodeTitle(g, f)));
  AppendShape(out, f.type, x, y, fill, dead ? "#8a8a8a" : kNodeStroke, f.is_output ? kOutputStroke : 1.0,
              dead ? " stroke-dasharray=\"3,2\"" : "");
  absl::StrAppendFormat(out,
                        "\n      <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                        "font-size=\"11\" font-weight=\"bold\" fill=\"%s\">%d</text>\n",
                        x, y + 4, text_colour, f.index);
  if (f.is_output) {
    const double ly = y - HalfHeight(f) - 6;
    absl::StrAppendFormat(out,
                          "      <rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"13\" rx=\"3\" "
                          "fill=\"#ffffff\" opacity=\"0.85\"/>\n"
                          "      <text class=\"plabel\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\" font-size=\"11\" font-weight=\"bold\" "
                          "fill=\"#111111\">P%d</text>\n",
                          x - 11, ly - 11, x, ly - 1, f.level);
  }
  absl::StrAppend(out, "    </g>\n");
}

struct LegendItem {
  enum Kind { kNode, kEdge } kind;
  v1::BlockType type;   // kNode: the shape.
  const char* colour;   // kNode: fill; kEdge: stroke.
  double stroke_width;  // kNode: outline width.
  bool faded;           // Dead style (kNode) or dashed (kEdge).
  const char* marker;   // kEdge: arrowhead.
  const char* label;
};

// The legend's two rows: node styles, then edge styles.
constexpr LegendItem kLegendNodes[] = {
    {LegendItem::kNode, v1::BOTTLENECK, kBottleneckFill, 1.0, false, "", "bottleneck block"},
    {LegendItem::kNode, v1::RESIDUAL, kResidualFill, 1.0, false, "", "residual block"},
    {LegendItem::kNode, v1::BOTTLENECK, kStemFill, 1.0, false, "", "stem feature"},
    {LegendItem::kNode, v1::BOTTLENECK, "#ffffff", kOutputStroke, false, "", "output block"},
    {LegendItem::kNode, v1::BOTTLENECK, kDeadFill, 1.0, true, "", "dead: reaches no output"},
};
constexpr LegendItem kLegendEdges[] = {
    {LegendItem::kEdge, v1::BOTTLENECK, kUpColour, 0, false, "up", "up-sampling"},
    {LegendItem::kEdge, v1::BOTTLENECK, kDownColour, 0, false, "down", "down-sampling"},
    {LegendItem::kEdge, v1::BOTTLENECK, kSameColour, 0, false, "same", "same level"},
    {LegendItem::kEdge, v1::BOTTLENECK, kExtraColour, 0, true, "extra", "extra parent, no resampling"},
};
const absl::Span<const LegendItem> kLegendRows[] = {kLegendNodes, kLegendEdges};

constexpr double kLegendIcon = 2 * kRectHalfW + 8;  // Icon and the gap before its label.
constexpr double kLegendGap = 26;                   // Between one label and the next icon.
constexpr double kCharWidth = 6.6;                  // Average advance of 12-unit sans text.

double LegendItemWidth(const LegendItem& item) {
  return kLegendIcon + kCharWidth * std::string_view(item.label).size() + kLegendGap;
}

// The widest legend row, so that the document can be made wide enough for it.
double LegendWidth() {
  double widest = 0;
  for (absl::Span<const LegendItem> row : kLegendRows) {
    double w = 0;
    for (const LegendItem& item : row) w += LegendItemWidth(item);
    widest = std::max(widest, w);
  }
  return widest;
}

void AppendLegend(std::string* out, double left, double top) {
  absl::StrAppend(out, "  <g class=\"legend\" font-size=\"12\" fill=\"#333333\">\n");
  double y = top + kLegendRow / 2;
  for (absl::Span<const LegendItem> row : kLegendRows) {
    double x = left;
    for (const LegendItem& item : row) {
      absl::StrAppend(out, "    ");
      if (item.kind == LegendItem::kNode) {
        AppendShape(
            out, item.type, x + kRectHalfW, y, item.colour, item.faded ? "#8a8a8a" : kNodeStroke, item.stroke_width,
            item.faded ? absl::StrFormat(" stroke-dasharray=\"3,2\" opacity=\"%.2f\"", kDeadOpacity + 0.2) : "");
      } else {
        absl::StrAppendFormat(out,
                              "<path d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f\" "
                              "fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s "
                              "marker-end=\"url(#arrow-%s)\"/>",
                              x, y + 5, x + 14, y + 5, x + 18, y - 5, x + 2 * kRectHalfW, y - 5, item.colour,
                              item.faded ? "2" : "1.6", item.faded ? " stroke-dasharray=\"6,4\"" : "", item.marker);
      }
      absl::StrAppendFormat(out, "\n    <text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + kLegendIcon, y + 4, item.label);
      x += LegendItemWidth(item);
    }
    y += kLegendRow;
  }
  absl::StrAppend(out, "  </g>\n");
}

}  // namespace

std::string DrawSvg(const ResolvedGraph& graph, const std::string& title) {
  const int n = static_cast<int>(graph.features.size());
  Layout l;
  l.plot_width = kColumn * n;
  l.plot_bottom = kTop + kRow * l.levels;
  l.width = std::max(kLeft + l.plot_width + kRight, kMargin + LegendWidth() + kRight);
  const double legend_top = l.plot_bottom + kAxisBand + 6;
  l.height = legend_top + 2 * kLegendRow + 10;

  std::string out;
  out.reserve(4096 + 900 * n);
  absl::StrAppendFormat(&out,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                        "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                        "font-family=\"%s\">\n",
                        l.width, l.height, l.width, l.height, kFont);
  absl::StrAppendFormat(&out, "  <title>%s</title>\n", XmlEscape(title));
  absl::StrAppend(&out, "  <defs>\n");
  AppendMarker(&out, "arrow-up", kUpColour);
  AppendMarker(&out, "arrow-down", kDownColour);
  AppendMarker(&out, "arrow-same", kSameColour);
  AppendMarker(&out, "arrow-extra", kExtraColour);
  AppendMarker(&out, "arrow-dead", kDeadEdgeColour);
  absl::StrAppend(&out, "  </defs>\n");
  absl::StrAppendFormat(&out, "  <rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", l.width, l.height);

  // Title and subtitle.
  absl::StrAppendFormat(&out,
                        "  <text class=\"title\" x=\"%.1f\" y=\"30\" font-size=\"20\" "
                        "font-weight=\"bold\" fill=\"#111111\">%s</text>\n",
                        kMargin, XmlEscape(title));
  absl::StrAppendFormat(&out,
                        "  <text class=\"subtitle\" x=\"%.1f\" y=\"52\" font-size=\"13\" "
                        "fill=\"#555555\">%s</text>\n",
                        kMargin, XmlEscape(Summary(graph)));

  // Level axis: guide lines, labels and each level's spatial size.
  absl::StrAppend(&out, "  <g class=\"levels\">\n");
  for (int level = kMaxLevel; level >= kMinLevel; --level) {
    const double y = l.Y(level);
    // ceil(input / 2^level), as in Resolve: also for levels that hold no block.
    const int h = (graph.input.height + (1 << level) - 1) >> level;
    const int w = (graph.input.width + (1 << level) - 1) >> level;
    absl::StrAppendFormat(&out,
                          "    <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"1\"/>\n"
                          "    <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"14\" "
                          "font-weight=\"bold\" fill=\"#444444\">L%d</text>\n"
                          "    <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\" "
                          "fill=\"#888888\">%dx%d</text>\n",
                          kLeft - 6, y, kLeft + l.plot_width, y, kGuideColour, kLeft - 10, y - 1, level, kLeft - 10,
                          y + 12, h, w);
  }
  absl::StrAppend(&out, "  </g>\n");

  // Build-order axis: a bracket under the stem and an arrow.
  const double axis_y = l.plot_bottom + 10;
  absl::StrAppendFormat(&out,
                        "  <g class=\"axis\" font-size=\"11\" fill=\"#666666\">\n"
                        "    <path d=\"M%.1f,%.1f v4 H%.1f v-4\" fill=\"none\" stroke=\"#999999\"/>\n"
                        "    <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">stem</text>\n"
                        "    <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\" "
                        "marker-end=\"url(#arrow-same)\"/>\n"
                        "    <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">build order</text>\n"
                        "  </g>\n",
                        l.X(0) - kRectHalfW, axis_y, l.X(kNumStemFeatures - 1) + kRectHalfW,
                        (l.X(0) + l.X(kNumStemFeatures - 1)) / 2, axis_y + 17, l.X(kNumStemFeatures) - kRectHalfW,
                        axis_y + 2, kLeft + l.plot_width - 4, axis_y + 2, kLeft + l.plot_width - 8, axis_y + 17);

  // Edges below the nodes: the stem chain, each block's two parents, then extra parents.
  absl::StrAppend(&out, "  <g class=\"edges\">\n");
  absl::StrAppendFormat(&out,
                        "    <line class=\"stem-link\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                        "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                        l.X(0) + kRectHalfW, l.Y(kMinLevel), l.X(1) - kRectHalfW, l.Y(kMinLevel), kStemFill);
  for (const ResolvedBlock& b : graph.blocks) {
    for (const ResampleEdge& e : b.edges) {
      const EdgeKind kind = e.level_delta > 0 ? EdgeKind::kDown : e.level_delta < 0 ? EdgeKind::kUp : EdgeKind::kSame;
      AppendEdge(&out, graph, l, e.parent, b.feature.index, kind);
    }
  }
  for (const ResolvedBlock& b : graph.blocks) {
    for (int p : b.extra_parents) AppendEdge(&out, graph, l, p, b.feature.index, EdgeKind::kExtra);
  }
  absl::StrAppend(&out, "  </g>\n");

  absl::StrAppend(&out, "  <g class=\"nodes\">\n");
  for (const Feature& f : graph.features) AppendNode(&out, graph, l, f);
  absl::StrAppend(&out, "  </g>\n");

  AppendLegend(&out, kMargin, legend_top);
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text.

namespace {

constexpr int kCellWidth = 3;   // Fits feature indices up to 99 with a space between columns.
constexpr int kLabelWidth = 4;  // "L7" and its padding.

void AppendLine(std::string* out, std::string line) {
  while (!line.empty() && line.back() == ' ') line.pop_back();
  absl::StrAppend(out, line, "\n");
}

char Cell(const Feature& f) {
  if (f.index < kNumStemFeatures) return 's';
  const char c = f.type == v1::RESIDUAL ? 'r' : 'b';
  return f.is_output ? static_cast<char>(c - 'a' + 'A') : c;
}

// Indices wider than a cell still line up as long as each one takes a whole cell.
std::string Padded(std::string_view s) {
  const int pad = kCellWidth - static_cast<int>(s.size());
  return std::string(std::max(1, pad), ' ') + std::string(s);
}

}  // namespace

std::string DrawText(const ResolvedGraph& graph, const std::string& title) {
  std::string out;
  AppendLine(&out, title);
  AppendLine(&out, Summary(graph));

  std::string header(kLabelWidth, ' ');
  for (const Feature& f : graph.features) header += Padded(absl::StrCat(f.index));
  AppendLine(&out, header);
  for (int level = kMaxLevel; level >= kMinLevel; --level) {
    std::string row = absl::StrFormat("L%d", level);
    row.resize(kLabelWidth, ' ');
    for (const Feature& f : graph.features) {
      const std::string index = absl::StrCat(f.index);
      const std::string cell(1, f.level == level ? Cell(f) : '.');
      row += Padded(std::string(index.size() > 1 ? index.size() - 1 : 0, ' ') + cell);
    }
    AppendLine(&out, row);
  }
  AppendLine(&out, "s stem, b/r bottleneck/residual, B/R output block, (+n) extra parent");

  for (const ResolvedBlock& b : graph.blocks) {
    const Feature& f = b.feature;
    std::string line = absl::StrFormat("%3d  L%d %c  <- %s", f.index, f.level, Cell(f), ParentList(b));
    if (f.is_output) absl::StrAppendFormat(&line, "  out P%d", f.level);
    if (!b.reaches_endpoint) absl::StrAppend(&line, "  dead");
    AppendLine(&out, line);
  }
  return out;
}

}  // namespace vertebra::search_spaces
