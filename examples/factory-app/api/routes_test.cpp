// Route parsing: every endpoint, and the refusals that keep bad input away from the store.
#include "routes.hpp"

#include <gtest/gtest.h>

namespace rtcache::demo {
namespace {

TEST(Routes, ListTakesFactoryPageAndSize) {
  auto r = parse_route("GET", "/api/wo?factory=f1&page=3&size=50");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, route_kind::list);
  EXPECT_EQ(r->table->table, "work_orders");
  EXPECT_EQ(r->factory, "f1");
  EXPECT_EQ(r->page, 3);
  EXPECT_EQ(r->page_size, 50);
}

TEST(Routes, ListDefaultsToFirstPage) {
  auto r = parse_route("GET", "/api/price_list?factory=f2");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->page, 1);
  EXPECT_EQ(r->page_size, k_default_page_size);
}

TEST(Routes, ListRequiresAValidFactory) {
  EXPECT_EQ(parse_route("GET", "/api/wo").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=a%20b").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=").error().status, 400);
}

TEST(Routes, RefusesPagesAndSizesOutOfBounds) {
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=f1&page=0").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=f1&page=x").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=f1&size=101").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo?factory=f1&page=2x").error().status, 400);
}

TEST(Routes, DocumentRoutesByMethod) {
  EXPECT_EQ(parse_route("GET", "/api/lot/7")->kind, route_kind::detail);
  EXPECT_EQ(parse_route("PATCH", "/api/lot/7")->kind, route_kind::update);
  EXPECT_EQ(parse_route("DELETE", "/api/lot/7")->kind, route_kind::remove);
  EXPECT_EQ(parse_route("POST", "/api/lot")->kind, route_kind::create);
  EXPECT_EQ(parse_route("POST", "/api/lot/7/approve")->kind, route_kind::approve);
  EXPECT_EQ(parse_route("POST", "/api/lot/7/reject")->kind, route_kind::reject);
  EXPECT_EQ(parse_route("POST", "/api/lot/_bulk")->kind, route_kind::bulk);
  EXPECT_EQ(parse_route("GET", "/api/lot/7")->id, 7);
}

TEST(Routes, DevEndpoints) {
  EXPECT_EQ(parse_route("GET", "/api/_requests")->kind, route_kind::requests_list);
  EXPECT_EQ(parse_route("DELETE", "/api/_requests")->kind, route_kind::requests_reset);
  EXPECT_EQ(parse_route("POST", "/api/_token")->kind, route_kind::mint_token);
  EXPECT_EQ(parse_route("GET", "/api/_health")->kind, route_kind::health);
}

TEST(Routes, UnknownTypesAndPathsAreNotFound) {
  EXPECT_EQ(parse_route("GET", "/api/users?factory=f1").error().status, 404);
  EXPECT_EQ(parse_route("GET", "/other").error().status, 404);
  EXPECT_EQ(parse_route("POST", "/api/wo/1/ship").error().status, 404);
  EXPECT_EQ(parse_route("GET", "/api/wo/1/approve/x").error().status, 404);
}

TEST(Routes, WrongMethodIs405) {
  EXPECT_EQ(parse_route("PUT", "/api/wo/1").error().status, 405);
  EXPECT_EQ(parse_route("GET", "/api/wo/1/approve").error().status, 405);
  EXPECT_EQ(parse_route("GET", "/api/_token").error().status, 405);
}

TEST(Routes, RefusesIdsThatAreNotPositiveIntegers) {
  EXPECT_EQ(parse_route("GET", "/api/wo/0").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo/-3").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo/1;drop").error().status, 400);
  EXPECT_EQ(parse_route("GET", "/api/wo/99999999999999999999").error().status, 400);
}

}  // namespace
}  // namespace rtcache::demo
