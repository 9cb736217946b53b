// The README's minimal example is the built example: the first ```cpp block of src/client/README.md must equal
// src/client/examples/readme_example.cpp byte for byte, so the README cannot show code that no longer compiles.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ClientReadme, MinimalExampleIsTheBuiltSource) {
  const std::string readme = slurp(std::string(RTCACHE_SOURCE_DIR) + "/src/client/README.md");
  const std::string example = slurp(std::string(RTCACHE_SOURCE_DIR) + "/src/client/examples/readme_example.cpp");
  ASSERT_FALSE(example.empty());
  const std::string open = "```cpp\n";
  const auto start = readme.find(open);
  ASSERT_NE(start, std::string::npos) << "README has no ```cpp block";
  const auto end = readme.find("```", start + open.size());
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(readme.substr(start + open.size(), end - start - open.size()), example);
}

}  // namespace
