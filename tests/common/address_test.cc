#include "common/address.h"

#include "gtest/gtest.h"

namespace vertebra {
namespace {

TEST(CheckListenAddress, AcceptsHostPortForms) {
  for (const char* ok : {"127.0.0.1:0", "127.0.0.1:50051", "0.0.0.0:65535", "localhost:1", "[::1]:8080",
                         "[::]:0", "unix:/tmp/vertebra.sock"}) {
    EXPECT_TRUE(CheckListenAddress(ok).ok()) << ok;
  }
}

TEST(CheckListenAddress, RefusesWhatGrpcWouldTakeAsAnyPort) {
  EXPECT_EQ(CheckListenAddress("127.0.0.1:99999").message(), "--listen 127.0.0.1:99999: port must be 0..65535");
  EXPECT_EQ(CheckListenAddress("127.0.0.1:").message(), "--listen 127.0.0.1:: the port is empty");
  EXPECT_EQ(CheckListenAddress("127.0.0.1").message(), "--listen 127.0.0.1: expected HOST:PORT");
  EXPECT_EQ(CheckListenAddress(":80").message(), "--listen :80: the host is empty");
  EXPECT_FALSE(CheckListenAddress("127.0.0.1:-1").ok());
  EXPECT_FALSE(CheckListenAddress("127.0.0.1:1e3").ok());
  EXPECT_FALSE(CheckListenAddress("::1:80").ok());
  EXPECT_FALSE(CheckListenAddress("unix:").ok());
  EXPECT_EQ(CheckListenAddress("x", "--admin").message(), "--admin x: expected HOST:PORT");
}

}  // namespace
}  // namespace vertebra
