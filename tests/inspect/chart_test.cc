#include "inspect/chart.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vertebra::inspect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ChartTest, TicksAreRoundNumbers) {
  const std::vector<double> ticks = LinearTicks(0, 1, 5);
  ASSERT_EQ(ticks.size(), 6u);
  for (size_t i = 0; i < ticks.size(); ++i) EXPECT_DOUBLE_EQ(ticks[i], 0.2 * i);
  EXPECT_THAT(LinearTicks(3, 3, 5), ElementsAre(3));
  EXPECT_THAT(LogTicks(1, 100), ElementsAre(1, 2, 5, 10, 20, 50, 100));
  EXPECT_EQ(TickLabel(1e-15), "0");
  EXPECT_EQ(TickLabel(2.5), "2.5");
}

TEST(ChartTest, ScalesMapDataToPixels) {
  const Scale linear{0, 10, 100, 200};
  EXPECT_DOUBLE_EQ(linear(5), 150);
  const Scale log{1, 100, 0, 100, true};
  EXPECT_DOUBLE_EQ(log(10), 50);
  const auto [lo, hi] = Padded(1, 1, 0.1);
  EXPECT_LT(lo, 1);
  EXPECT_GT(hi, 1);
}

TEST(ChartTest, DotsInOneCellAreDrawnOnce) {
  DotPath dots;
  EXPECT_TRUE(dots.empty());
  EXPECT_EQ(dots.Svg("#000", 4, 1), "");
  dots.Add(10, 10);
  dots.Add(10.2, 10.3);  // The same cell.
  dots.Add(30, 10);
  const std::string svg = dots.Svg("#123456", 4, 0.5);
  EXPECT_THAT(svg, HasSubstr("d=\"M10 10h0m20 0h0\""));
  EXPECT_THAT(svg, HasSubstr("stroke=\"#123456\""));
}

TEST(ChartTest, ALineKeepsTheLastVertexOfAPixelColumn) {
  LinePath line;
  line.Add(1, 1);
  line.Add(1.2, 5);
  line.Add(3, 2);
  EXPECT_THAT(line.Svg("#000", 1), HasSubstr("d=\"M1.0 1.0L1.2 5.0L3.0 2.0\""));
}

TEST(ChartTest, AChartIsOneSvgElementWithItsLegend) {
  Chart chart(kChartHeight, kPlotLeft, kPlotRight, Scale{0, 1}, Scale{0, 1});
  chart.Axes(LinearTicks(0, 1, 2), [](double v) { return TickLabel(v); }, "x <title>", LinearTicks(0, 1, 2), "y");
  chart.Legend(Chart::Mark::kLine, "#111111", "mean");
  const std::string svg = chart.Svg("a & b");
  EXPECT_EQ(svg.rfind("<svg class=\"chart\"", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("aria-label=\"a &amp; b\""));
  EXPECT_THAT(svg, HasSubstr("x &lt;title&gt;"));
  EXPECT_THAT(svg, HasSubstr(">mean</text>"));
}

}  // namespace
}  // namespace vertebra::inspect
