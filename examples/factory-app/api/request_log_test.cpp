// The request log: sequence numbers, JSON shape, reset and its bound.
#include "request_log.hpp"

#include <gtest/gtest.h>

namespace rtcache::demo {
namespace {

request_entry list_entry(std::int64_t page) {
  request_entry e;
  e.kind = route_kind::list;
  e.type = "wo";
  e.factory = "f1";
  e.page = page;
  e.status = 200;
  return e;
}

TEST(RequestLog, NumbersEntriesAndWritesListFields) {
  request_log log;
  log.record(list_entry(1));
  request_entry d;
  d.kind = route_kind::detail;
  d.type = "lot";
  d.id = 9;
  d.status = 404;
  log.record(d);
  EXPECT_EQ(log.to_json(),
            R"({"entries":[{"seq":1,"kind":"list","type":"wo","factory":"f1","page":1,"status":200,"at":0},)"
            R"({"seq":2,"kind":"detail","type":"lot","id":9,"status":404,"at":0}],"dropped":0})");
}

TEST(RequestLog, ClearKeepsTheSequenceGoing) {
  request_log log;
  log.record(list_entry(1));
  log.clear();
  EXPECT_EQ(log.size(), 0u);
  log.record(list_entry(2));
  EXPECT_EQ(log.entries().front().seq, 2u);
}

TEST(RequestLog, DropsTheOldestBeyondCapacity) {
  request_log log;
  for (std::size_t i = 0; i < request_log::k_capacity + 3; ++i) log.record(list_entry(1));
  EXPECT_EQ(log.size(), request_log::k_capacity);
  EXPECT_EQ(log.dropped(), 3u);
  EXPECT_EQ(log.entries().front().seq, 4u);
}

}  // namespace
}  // namespace rtcache::demo
