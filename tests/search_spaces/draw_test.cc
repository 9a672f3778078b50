#include "search_spaces/draw.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search_spaces/arch_spec.h"
#include "search_spaces/family.h"
#include "search_spaces/resolve.h"

namespace vertebra::search_spaces {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

ResolvedGraph SpineNet49Graph() {
  absl::StatusOr<ResolvedGraph> g = Resolve(SpineNet49(), 640, 640);
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

void AddBlock(v1::ArchSpec* spec, int level, v1::BlockType type, int parent0, int parent1, bool output) {
  v1::Block* b = spec->add_blocks();
  b->set_level(level);
  b->set_type(type);
  b->add_parents(parent0);
  b->add_parents(parent1);
  b->set_output(output);
}

// Feature 3 (an L4 residual block, 256 channels) feeds nothing, and the L4 output block is a
// 1024-channel bottleneck, so the extra-parent rule does not absorb it: dead compute.
v1::ArchSpec SpecWithDeadBlock() {
  v1::ArchSpec spec;
  spec.set_name("dead-end");
  AddBlock(&spec, 3, v1::BOTTLENECK, 0, 1, false);  // Feature 2.
  AddBlock(&spec, 4, v1::RESIDUAL, 0, 1, false);    // Feature 3: dead.
  AddBlock(&spec, 3, v1::BOTTLENECK, 2, 0, true);   // Feature 4: P3.
  AddBlock(&spec, 4, v1::BOTTLENECK, 4, 2, true);   // Feature 5: P4.
  AddBlock(&spec, 5, v1::BOTTLENECK, 5, 4, true);   // Feature 6: P5.
  AddBlock(&spec, 6, v1::BOTTLENECK, 6, 5, true);   // Feature 7: P6.
  AddBlock(&spec, 7, v1::BOTTLENECK, 7, 6, true);   // Feature 8: P7.
  *spec.mutable_scaling() = DefaultScaling();
  return spec;
}

// `intermediate` blocks cycling through the levels, each fed by the block before it and one
// further back, then the five output blocks: long enough for three-digit feature indices.
v1::ArchSpec LongSpec(int intermediate) {
  v1::ArchSpec spec;
  spec.set_name("long");
  for (int k = 0; k < intermediate; ++k) {
    const int feature = k + kNumStemFeatures;
    const int far = feature - 2 - (k * 7) % std::min(feature - 1, 9);
    AddBlock(&spec, 2 + (k * 5) % 6, k % 3 == 1 ? v1::RESIDUAL : v1::BOTTLENECK, feature - 1, far, false);
  }
  for (int level = 3; level <= 7; ++level) {
    const int feature = spec.blocks_size() + kNumStemFeatures;
    AddBlock(&spec, level, v1::BOTTLENECK, feature - 1, feature - 3, true);
  }
  *spec.mutable_scaling() = DefaultScaling();
  return spec;
}

ResolvedGraph DeadBlockGraph() {
  absl::StatusOr<ResolvedGraph> g = Resolve(SpecWithDeadBlock(), 512, 512);
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

int Count(std::string_view haystack, std::string_view needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// A small XML well-formedness check: every tag closes in order, attribute values are quoted,
// and text holds no raw '<' and no '&' outside an entity. Returns "" or what went wrong.
std::string XmlProblem(std::string_view xml) {
  std::vector<std::string> open;
  size_t i = 0;
  int roots = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      if (semi == std::string_view::npos) return absl::StrCat("bare & at ", i);
      const std::string_view entity = xml.substr(i, semi - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;") {
        return absl::StrCat("unknown entity ", std::string(entity), " at ", i);
      }
      i = semi + 1;
      continue;
    }
    if (xml[i] == '>') return absl::StrCat("stray > at ", i);
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    if (xml.substr(i, 5) == "<?xml") {
      if (i != 0) return "XML declaration not at the start";
      i = xml.find("?>", i) + 2;
      continue;
    }
    if (xml.substr(i, 4) == "<!--") {
      i = xml.find("-->", i) + 3;
      continue;
    }
    // A tag: scan to its '>' honouring quoted attribute values.
    size_t j = i + 1;
    char quote = 0;
    while (j < xml.size() && (quote != 0 || xml[j] != '>')) {
      if (quote != 0) {
        if (xml[j] == quote) quote = 0;
        if (xml[j] == '<') return absl::StrCat("< inside an attribute at ", j);
      } else if (xml[j] == '"' || xml[j] == '\'') {
        quote = xml[j];
      } else if (xml[j] == '<') {
        return absl::StrCat("< inside a tag at ", j);
      }
      ++j;
    }
    if (j >= xml.size()) return "unterminated tag";
    std::string_view tag = xml.substr(i + 1, j - i - 1);
    i = j + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      const std::string name(tag.substr(1));
      if (open.empty() || open.back() != name) {
        return absl::StrCat("</", name, "> closes <", open.empty() ? "" : open.back(), ">");
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name(tag.substr(0, tag.find_first_of(" \t\n/")));
    if (open.empty() && ++roots > 1) return "more than one root element";
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return absl::StrCat("<", open.back(), "> never closed");
  if (roots != 1) return "no root element";
  return "";
}

// The element (open tag through its close) whose open tag contains `marker`.
std::string ElementWith(const std::string& svg, const std::string& marker) {
  const size_t at = svg.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = svg.rfind('<', at);
  const size_t name_end = svg.find_first_of(" >", start);
  const std::string name = svg.substr(start + 1, name_end - start - 1);
  const size_t end = svg.find("</" + name + ">", at);
  return svg.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The character drawn for `feature` in a grid row: the last column of its cell.
char GridCell(const std::string& header, const std::string& row, int feature) {
  const std::string label = absl::StrCat(" ", feature);
  size_t at = header.find(label + " ");
  if (at == std::string::npos && header.size() >= label.size() &&
      header.compare(header.size() - label.size(), label.size(), label) == 0) {
    at = header.size() - label.size();
  }
  if (at == std::string::npos) return '?';
  const size_t column = at + label.size() - 1;
  return column < row.size() ? row[column] : ' ';
}

TEST(DrawSvgTest, IsAWellFormedStandaloneSvgDocument) {
  const std::string svg = DrawSvg(SpineNet49Graph(), "SpineNet-49");
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_THAT(svg, StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
  EXPECT_THAT(svg, AllOf(HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""), HasSubstr("version=\"1.1\""),
                         ContainsRegex("viewBox=\"0 0 [0-9]+ [0-9]+\""), ContainsRegex("width=\"[0-9]+\""),
                         ContainsRegex("height=\"[0-9]+\"")));
  EXPECT_THAT(svg, HasSubstr(">SpineNet-49</text>"));
  EXPECT_THAT(svg, HasSubstr("15 blocks (11 bottleneck, 4 residual), input 640x640"));
  // Plain ASCII.
  for (char c : svg) ASSERT_LT(static_cast<unsigned char>(c), 0x80);
}

TEST(DrawSvgTest, DrawsOneNodePerFeatureEachWithATooltip) {
  const std::string svg = DrawSvg(SpineNet49Graph(), "SpineNet-49");
  EXPECT_EQ(Count(svg, "<g class=\"node "), 17);
  EXPECT_EQ(Count(svg, "<g class=\"node stem\""), 2);
  EXPECT_EQ(Count(svg, "<g class=\"node bottleneck"), 11);
  EXPECT_EQ(Count(svg, "<g class=\"node residual"), 4);
  for (int f = 0; f < 17; ++f) {
    const std::string node = ElementWith(svg, absl::StrCat("id=\"feature-", f, "\""));
    EXPECT_THAT(node, ContainsRegex(">\\s*<title>feature " + std::to_string(f) + ": L")) << "feature " << f;
  }
  EXPECT_THAT(svg, HasSubstr("<title>feature 12: L4 bottleneck, 1024 ch, 40x40, output P4"));
  EXPECT_THAT(svg, HasSubstr("<title>feature 0: L2 stem bottleneck, 256 ch, 160x160</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>feature 3: L4 residual, 256 ch, 40x40, parents 0, 1</title>"));
}

TEST(DrawSvgTest, ShapesTellBottleneckFromResidual) {
  const std::string svg = DrawSvg(SpineNet49Graph(), "SpineNet-49");
  EXPECT_THAT(ElementWith(svg, "id=\"feature-3\""), AllOf(HasSubstr("<circle"), Not(HasSubstr("<rect"))));
  EXPECT_THAT(ElementWith(svg, "id=\"feature-2\""), AllOf(HasSubstr("<rect"), Not(HasSubstr("<circle"))));
}

TEST(DrawSvgTest, DrawsEveryParentEdgeAndTheExtraParentDashed) {
  const ResolvedGraph g = SpineNet49Graph();
  const std::string svg = DrawSvg(g, "SpineNet-49");
  EXPECT_EQ(Count(svg, "<path class=\"edge parent "), 30);
  for (const ResolvedBlock& b : g.blocks) {
    for (const ResampleEdge& e : b.edges) {
      EXPECT_THAT(svg, HasSubstr(absl::StrCat("id=\"edge-", e.parent, "-", b.feature.index, "\"")));
    }
  }
  EXPECT_EQ(Count(svg, "<path class=\"edge extra"), 1);
  const std::string extra = ElementWith(svg, "id=\"extra-11-14\"");
  EXPECT_THAT(extra, AllOf(HasSubstr("stroke-dasharray"), HasSubstr(" d=\"M"), HasSubstr(" C")));
  // Parent curves are solid.
  EXPECT_THAT(ElementWith(svg, "id=\"edge-7-14\""), Not(HasSubstr("stroke-dasharray")));
}

TEST(DrawSvgTest, StylesEdgesByDirection) {
  const ResolvedGraph g = SpineNet49Graph();
  int up = 0, down = 0, same = 0;
  for (const ResolvedBlock& b : g.blocks) {
    for (const ResampleEdge& e : b.edges) {
      (e.level_delta < 0 ? up : e.level_delta > 0 ? down : same)++;
    }
  }
  const std::string svg = DrawSvg(g, "SpineNet-49");
  EXPECT_EQ(Count(svg, "class=\"edge parent up\""), up);
  EXPECT_EQ(Count(svg, "class=\"edge parent down\""), down);
  EXPECT_EQ(Count(svg, "class=\"edge parent same\""), same);
  EXPECT_GT(up, 0);
  EXPECT_GT(down, 0);
  EXPECT_GT(same, 0);
  // 10 (L5) -> 12 (L4) is up-sampling, 2 (L2) -> 4 (L3) down-sampling, in different colours.
  const std::string up_edge = ElementWith(svg, "id=\"edge-10-12\"");
  const std::string down_edge = ElementWith(svg, "id=\"edge-2-4\"");
  EXPECT_THAT(up_edge, HasSubstr("class=\"edge parent up\""));
  EXPECT_THAT(down_edge, HasSubstr("class=\"edge parent down\""));
  const auto stroke = [](const std::string& e) {
    const size_t at = e.find(" stroke=\"");
    return e.substr(at, e.find('"', at + 9) - at);
  };
  EXPECT_NE(stroke(up_edge), stroke(down_edge));
}

TEST(DrawSvgTest, LabelsEachOutputOnceWithAThickOutline) {
  const std::string svg = DrawSvg(SpineNet49Graph(), "SpineNet-49");
  for (int level = 3; level <= 7; ++level) {
    EXPECT_EQ(Count(svg, absl::StrCat(">P", level, "</text>")), 1) << "P" << level;
  }
  EXPECT_EQ(Count(svg, "class=\"plabel\""), 5);
  EXPECT_EQ(Count(svg, "<g class=\"node bottleneck output\""), 5);
  const std::string p5 = ElementWith(svg, "id=\"feature-14\"");
  EXPECT_THAT(p5, AllOf(HasSubstr(">P5</text>"), HasSubstr("stroke-width=\"3.2\"")));
  EXPECT_THAT(ElementWith(svg, "id=\"feature-11\""),
              AllOf(Not(HasSubstr("stroke-width=\"3.2\"")), Not(HasSubstr(">P"))));
}

TEST(DrawSvgTest, EscapesTheTitle) {
  const std::string svg = DrawSvg(SpineNet49Graph(), "a <&> \"b\" 'c'");
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_THAT(svg, HasSubstr("a &lt;&amp;&gt; &quot;b&quot; &apos;c&apos;"));
  EXPECT_THAT(svg, Not(HasSubstr("<&>")));
}

TEST(DrawSvgTest, GreysDeadBlocks) {
  const ResolvedGraph g = DeadBlockGraph();
  ASSERT_FALSE(g.blocks[1].reaches_endpoint);
  const std::string svg = DrawSvg(g, "dead end");
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_EQ(Count(svg, "<g class=\"node "), 9);
  EXPECT_EQ(Count(svg, "<g class=\"node residual dead\""), 1);
  const std::string dead = ElementWith(svg, "id=\"feature-3\"");
  EXPECT_THAT(dead, AllOf(HasSubstr("class=\"node residual dead\""), HasSubstr("opacity=\"0."),
                          HasSubstr("dead: reaches no output")));
  EXPECT_THAT(svg, HasSubstr("1 dead"));
  // The edges feeding dead compute are greyed too; live nodes are not.
  EXPECT_THAT(ElementWith(svg, "id=\"edge-0-3\""), HasSubstr(" dead\""));
  EXPECT_THAT(ElementWith(svg, "id=\"feature-2\""), Not(HasSubstr("opacity")));
  EXPECT_THAT(DrawSvg(SpineNet49Graph(), "x"), Not(HasSubstr("class=\"node residual dead\"")));
  EXPECT_EQ(Count(DrawSvg(SpineNet49Graph(), "x"), " dead\""), 0);
}

TEST(DrawSvgTest, IsDeterministic) {
  EXPECT_EQ(DrawSvg(SpineNet49Graph(), "t"), DrawSvg(SpineNet49Graph(), "t"));
  EXPECT_EQ(DrawSvg(DeadBlockGraph(), "t"), DrawSvg(DeadBlockGraph(), "t"));
}

TEST(DrawSvgTest, DrawsLargerReferenceModels) {
  for (const std::string& name : ReferenceArchNames()) {
    absl::StatusOr<v1::ArchSpec> spec = ReferenceArch(name);
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<ResolvedGraph> g = Resolve(*spec, 1280, 1024);
    ASSERT_TRUE(g.ok()) << g.status();
    const std::string svg = DrawSvg(*g, name);
    EXPECT_EQ(XmlProblem(svg), "") << name;
    EXPECT_EQ(Count(svg, "<g class=\"node "), static_cast<int>(g->features.size())) << name;
  }
}

TEST(DrawSvgTest, DrawsLongSpecs) {
  absl::StatusOr<ResolvedGraph> g = Resolve(LongSpec(120), 640, 640);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string svg = DrawSvg(*g, "long");
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_EQ(Count(svg, "<g class=\"node "), 127);
  EXPECT_EQ(Count(svg, "<path class=\"edge parent "), 2 * 125);
}

TEST(DrawTextTest, HasATitleAHeaderAndOneRowPerLevel) {
  const std::vector<std::string> lines = Lines(DrawText(SpineNet49Graph(), "SpineNet-49"));
  ASSERT_GE(lines.size(), 9u);
  EXPECT_EQ(lines[0], "SpineNet-49");
  EXPECT_THAT(lines[1], HasSubstr("15 blocks"));
  EXPECT_THAT(lines[2], AllOf(StartsWith("      0  1  2"), HasSubstr(" 15 16")));
  for (int i = 0; i < 6; ++i) {
    EXPECT_THAT(lines[3 + i], StartsWith(absl::StrCat("L", 7 - i, " "))) << lines[3 + i];
  }
}

TEST(DrawTextTest, GridShowsStemIntermediateAndOutputBlocks) {
  const ResolvedGraph g = SpineNet49Graph();
  const std::vector<std::string> lines = Lines(DrawText(g, "SpineNet-49"));
  const std::string& header = lines[2];
  for (int level = 7; level >= 2; --level) {
    const std::string& row = lines[3 + 7 - level];
    for (const Feature& f : g.features) {
      char want = '.';
      if (f.level == level) {
        if (f.index < 2) {
          want = 's';
        } else {
          want = f.type == v1::RESIDUAL ? 'r' : 'b';
          if (f.is_output) want = want == 'r' ? 'R' : 'B';
        }
      }
      EXPECT_EQ(GridCell(header, row, f.index), want) << "L" << level << " feature " << f.index;
    }
  }
}

TEST(DrawTextTest, GridStaysAlignedPastTwoDigitIndices) {
  absl::StatusOr<ResolvedGraph> g = Resolve(LongSpec(120), 640, 640);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::vector<std::string> lines = Lines(DrawText(*g, "long"));
  const std::string& header = lines[2];
  EXPECT_THAT(header, HasSubstr(" 98 99 100 101"));
  for (const Feature& f : g->features) {
    const std::string& row = lines[3 + 7 - f.level];
    EXPECT_NE(GridCell(header, row, f.index), '.') << "feature " << f.index;
    EXPECT_NE(GridCell(header, lines[3 + 7 - (f.level == 2 ? 3 : 2)], f.index), ' ');
  }
  for (const std::string& line : lines) EXPECT_NE(line.back(), ' ');
}

TEST(DrawTextTest, ListsParentsExtraParentsAndOutputs) {
  const std::string text = DrawText(SpineNet49Graph(), "SpineNet-49");
  EXPECT_THAT(text, HasSubstr("\n 14  L5 B  <- 7, 12 (+11)  out P5\n"));
  EXPECT_THAT(text, HasSubstr("\n  2  L2 b  <- 0, 1\n"));
  EXPECT_THAT(text, HasSubstr("\n  3  L4 r  <- 0, 1\n"));
  EXPECT_THAT(text, HasSubstr("\n 16  L6 B  <- 12, 14  out P6\n"));
  EXPECT_EQ(Count(text, "(+"), 2);  // The one in the block list and the one in the legend line.
  EXPECT_THAT(text, Not(HasSubstr("dead")));
}

TEST(DrawTextTest, MarksDeadBlocks) {
  const std::string text = DrawText(DeadBlockGraph(), "dead end");
  EXPECT_THAT(text, HasSubstr("\n  3  L4 r  <- 0, 1  dead\n"));
  EXPECT_EQ(Count(text, "dead"), 3);  // Title, summary, block line.
}

TEST(DrawTextTest, IsCompactPlainAsciiWithoutTrailingSpaces) {
  const std::string text = DrawText(SpineNet49Graph(), "SpineNet-49");
  for (const std::string& line : Lines(text)) {
    EXPECT_LE(line.size(), 100u) << line;
    EXPECT_TRUE(line.empty() || line.back() != ' ') << "'" << line << "'";
    for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
  }
  EXPECT_EQ(Lines(text).size(), 2u + 1u + 6u + 1u + 15u);
}

TEST(DrawTextTest, IsDeterministic) { EXPECT_EQ(DrawText(SpineNet49Graph(), "t"), DrawText(SpineNet49Graph(), "t")); }

}  // namespace
}  // namespace vertebra::search_spaces
