// Unit tests for the factory scope: which factories' events a client or connection may see.
#include "rtcache/core/factory_scope.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace rtcache::core {
namespace {

using ids = std::vector<std::string>;

TEST(FactoryScope, UnscopedSeesEveryFactory) {
  const factory_scope s = factory_scope::unscoped();
  EXPECT_TRUE(s.is_unscoped());
  EXPECT_TRUE(s.contains("f1"));
  EXPECT_TRUE(s.contains("any-other-factory"));
  EXPECT_TRUE(s.contains("0"));
}

TEST(FactoryScope, OfVectorSeesExactlyTheListedFactories) {
  const factory_scope s = factory_scope::of(ids{"f1", "f2"});
  EXPECT_FALSE(s.is_unscoped());
  EXPECT_TRUE(s.contains("f1"));
  EXPECT_TRUE(s.contains("f2"));
  EXPECT_FALSE(s.contains("f3"));
}

TEST(FactoryScope, OfInitializerListSeesExactlyTheListedFactories) {
  const factory_scope s = factory_scope::of({std::string_view{"f1"}, std::string_view{"f2"}});
  EXPECT_FALSE(s.is_unscoped());
  EXPECT_TRUE(s.contains("f1"));
  EXPECT_TRUE(s.contains("f2"));
  EXPECT_FALSE(s.contains("f3"));
  EXPECT_EQ(s.factory_ids(), (ids{"f1", "f2"}));
}

TEST(FactoryScope, EmptyVectorSeesNoFactory) {
  const factory_scope s = factory_scope::of(ids{});
  EXPECT_FALSE(s.is_unscoped());
  EXPECT_TRUE(s.factory_ids().empty());
  EXPECT_FALSE(s.contains("f1"));
  EXPECT_FALSE(s.contains(""));
}

TEST(FactoryScope, EmptyInitializerListSeesNoFactory) {
  const factory_scope s = factory_scope::of(std::initializer_list<std::string_view>{});
  EXPECT_FALSE(s.is_unscoped());
  EXPECT_TRUE(s.factory_ids().empty());
  EXPECT_FALSE(s.contains("f1"));
}

TEST(FactoryScope, ContainsMatchesWholeIdsOnly) {
  const factory_scope s = factory_scope::of(ids{"f1"});
  EXPECT_FALSE(s.contains("f10"));  // not a prefix match
  EXPECT_FALSE(s.contains("f"));
  EXPECT_FALSE(s.contains("F1"));  // ids are case-sensitive
  EXPECT_FALSE(s.contains(" f1"));
  EXPECT_FALSE(s.contains(""));
}

TEST(FactoryScope, FactoryIdsAreSortedAndDeduplicated) {
  const factory_scope s = factory_scope::of(ids{"f3", "f1", "f2", "f1", "f3"});
  EXPECT_EQ(s.factory_ids(), (ids{"f1", "f2", "f3"}));
  EXPECT_TRUE(s.contains("f1"));
  EXPECT_TRUE(s.contains("f2"));
  EXPECT_TRUE(s.contains("f3"));
}

TEST(FactoryScope, InitializerListIsSortedAndDeduplicated) {
  const factory_scope s = factory_scope::of({std::string_view{"b"}, std::string_view{"a"}, std::string_view{"b"}});
  EXPECT_EQ(s.factory_ids(), (ids{"a", "b"}));
}

TEST(FactoryScope, ContainsWorksForManyFactories) {
  ids many;
  for (int i = 0; i < 200; ++i) many.push_back("factory-" + std::to_string(199 - i));
  const factory_scope s = factory_scope::of(many);
  EXPECT_EQ(s.factory_ids().size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(s.contains("factory-" + std::to_string(i))) << i;
  EXPECT_FALSE(s.contains("factory-200"));
}

TEST(FactoryScope, CopiesAreIndependentAndEqualInBehaviour) {
  const factory_scope original = factory_scope::of(ids{"f1"});
  const factory_scope copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(copy.contains("f1"));
  EXPECT_FALSE(copy.contains("f2"));
  EXPECT_EQ(copy.factory_ids(), original.factory_ids());
  EXPECT_FALSE(copy.is_unscoped());
}

}  // namespace
}  // namespace rtcache::core
