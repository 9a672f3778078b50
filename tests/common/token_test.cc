#include "common/token.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "gtest/gtest.h"

namespace vertebra {
namespace {

namespace fs = std::filesystem;

TEST(ReadToken, FromAFileOrTheEnvironment) {
  const std::string path = (fs::temp_directory_path() / ("vertebra_token_" + std::to_string(getpid()))).string();
  ASSERT_TRUE(WriteFileAtomically(path, "abc\n").ok());
  EXPECT_EQ(*ReadToken(path), "abc");
  // A whitespace-only file would turn authentication off: refused.
  ASSERT_TRUE(WriteFileAtomically(path, " \n\t\n").ok());
  EXPECT_EQ(ReadToken(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ReadToken(path).status().message().find("empty"), std::string::npos);
  fs::remove(path);
  EXPECT_EQ(ReadToken(path).status().code(), absl::StatusCode::kNotFound);
  setenv("VERTEBRA_TOKEN", "from-env", 1);
  EXPECT_EQ(*ReadToken(""), "from-env");
  unsetenv("VERTEBRA_TOKEN");
  EXPECT_EQ(*ReadToken(""), "");
}

TEST(WriteNewToken, FortyEightHexDigitsReadableByTheOwnerOnly) {
  const std::string path = (fs::temp_directory_path() / ("vertebra_new_token_" + std::to_string(getpid()))).string();
  ASSERT_TRUE(WriteNewToken(path).ok());
  const std::string first = *ReadToken(path);
  EXPECT_EQ(first.size(), 48u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(WriteNewToken(path).ok());
  EXPECT_NE(*ReadToken(path), first);
  fs::remove(path);
}

TEST(WriteNewToken, AnUnwritablePathIsNamed) {
  const absl::Status s = WriteNewToken("/nonexistent-dir/token");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "cannot write /nonexistent-dir/token");
}

TEST(IsLoopback, NamesAndAddresses) {
  EXPECT_TRUE(IsLoopback("127.0.0.1:5"));
  EXPECT_TRUE(IsLoopback("127.0.0.2:5"));
  EXPECT_TRUE(IsLoopback("localhost:5"));
  EXPECT_TRUE(IsLoopback("[::1]:5"));
  EXPECT_FALSE(IsLoopback("0.0.0.0:5"));
  EXPECT_FALSE(IsLoopback("[::]:5"));
  EXPECT_FALSE(IsLoopback("10.0.0.1:5"));
}

}  // namespace
}  // namespace vertebra
