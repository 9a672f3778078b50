// A fresh folder for one test, named by the process and the running test, removed with it.
#ifndef VERTEBRA_TESTS_TESTING_TEMP_DIR_H_
#define VERTEBRA_TESTS_TESTING_TEMP_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace vertebra::test_util {

class TempDir {
 public:
  // TMPDIR/vertebra_PREFIX_PID_TEST, empty.
  explicit TempDir(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() /
              ("vertebra_" + prefix + "_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vertebra::test_util

#endif  // VERTEBRA_TESTS_TESTING_TEMP_DIR_H_
