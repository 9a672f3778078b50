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
