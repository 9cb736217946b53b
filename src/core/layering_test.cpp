// Pins the layering rule of docs/contributing.md: rtcache::core is pure policy. No I/O header, no clock read,
// no thread — anything of the kind belongs to the pg, net or client layers around it.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> core_sources() {
  std::vector<fs::path> files;
  for (const std::string dir : {"include/rtcache/core", "src/core"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(RTCACHE_SOURCE_DIR) / dir)) {
      const auto name = entry.path().filename().string();
      if (!entry.is_regular_file() || name.find("_test.cpp") != std::string::npos) continue;
      const auto ext = entry.path().extension();
      if (ext == ".hpp" || ext == ".cpp") files.push_back(entry.path());
    }
  }
  return files;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Layering, CoreSourcesExist) {
  EXPECT_GE(core_sources().size(), 20U);
}

TEST(Layering, CoreIncludesNoIoHeaderAndReadsNoClock) {
  constexpr std::array forbidden = {
      "boost/asio",
      "boost/beast",
      "libpq",
      "<fstream>",
      "<iostream>",
      "<thread>",
      "<mutex>",
      "<cstdio>",
      "sys/socket",
      "<unistd.h>",
      "steady_clock::now",
      "system_clock::now",
      "<random>",
      "getenv",
      "<filesystem>",
      "high_resolution_clock",
  };
  for (const auto& file : core_sources()) {
    const std::string text = read(file);
    for (const char* needle : forbidden) {
      EXPECT_EQ(text.find(needle), std::string::npos) << file << " uses " << needle;
    }
  }
}
