// JSON type names as error messages print them: one name per kind of value, integers and floats alike.
#include "rtcache/core/json_type_name.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtcache::core {
namespace {

TEST(JsonTypeName, NamesEveryKindOfValueWithItsArticle) {
  simdjson::dom::parser parser;
  const simdjson::padded_string text(std::string(R"([[], {}, -1, 18446744073709551615, 1.5, "s", true, null])"));
  simdjson::dom::array values;
  ASSERT_EQ(parser.parse(text).get_array().get(values), simdjson::SUCCESS);
  std::vector<std::string> names;
  for (const simdjson::dom::element v : values) names.emplace_back(json_type_name(v.type()));
  EXPECT_EQ(names, (std::vector<std::string>{"an array", "an object", "a number", "a number", "a number", "a string",
                                             "a boolean", "null"}));
}

}  // namespace
}  // namespace rtcache::core
