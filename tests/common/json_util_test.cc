#include "common/json_util.h"

#include <string>

#include "gtest/gtest.h"

namespace vertebra {
namespace {

std::string Error(const std::string& text) { return std::string(ParseJsonStrict(text).status().message()); }

TEST(JsonUtilTest, ParsesValidDocuments) {
  absl::StatusOr<nlohmann::json> j = ParseJsonStrict(R"({"a": [1, {"b": 2.5}], "c": null})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["a"][1]["b"], 2.5);
}

// A number that overflows a double is an error naming its field, not an uncaught exception.
TEST(JsonUtilTest, OverflowNamesTheField) {
  EXPECT_EQ(Error(R"({"lease": {"lease_seconds": 1e400}})"), "lease.lease_seconds: number overflow parsing '1e400'");
  EXPECT_EQ(Error(R"({"blocks": [{"level": 2}, {"level": -1e999}]})"),
            "blocks[1].level: number overflow parsing '-1e999'");
  EXPECT_EQ(Error(R"([[1, 2], [3, 1e400]])"), "[1][1]: number overflow parsing '1e400'");
  EXPECT_EQ(Error("1e400"), "(top level): number overflow parsing '1e400'");
}

TEST(JsonUtilTest, DuplicateKeysAreRefused) {
  EXPECT_EQ(Error(R"({"rungs": {"steps": [1], "steps": [2]}})"), "rungs: key \"steps\" given twice");
  EXPECT_EQ(Error(R"({"name": "a", "name": "b"})"), "(top level): key \"name\" given twice");
  // The same key in two objects is fine.
  EXPECT_TRUE(ParseJsonStrict(R"([{"a": 1}, {"a": 2}])").ok());
}

TEST(JsonUtilTest, SyntaxErrorsNameWhereTheyHappened) {
  const std::string e = Error(R"({"budget": {"trials": 3,}})");
  EXPECT_EQ(e.rfind("budget: parse error at line 1, column 25: syntax error", 0), 0u) << e;
  EXPECT_NE(Error("").find("syntax error"), std::string::npos);
  EXPECT_NE(Error("{\"a\": \"\xff\"}").find("a: parse error"), std::string::npos);  // Not UTF-8.
}

}  // namespace
}  // namespace vertebra
