// Small text helpers shared by the renderers: SVG drawings, the HTML report, terminal tables.
// Thread-safe: pure functions.
#ifndef VERTEBRA_COMMON_TEXT_UTIL_H_
#define VERTEBRA_COMMON_TEXT_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace vertebra {

// `s` made safe for XML and HTML text and attribute values: & < > " ' become &amp; &lt; &gt;
// &quot; &apos;, and the control characters XML 1.0 forbids (below 0x20 but tab and newline)
// become spaces. Other bytes, UTF-8 included, are copied unchanged.
std::string XmlEscape(std::string_view s);

// The decimal digits of `v` in groups of three separated by commas: "21,831,488", "-1,000".
std::string WithThousands(int64_t v);

}  // namespace vertebra

#endif  // VERTEBRA_COMMON_TEXT_UTIL_H_
