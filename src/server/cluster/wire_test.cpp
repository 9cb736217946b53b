// The stream body codec.
#include "cluster/wire.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

channel_message sample() {
  channel_message m;
  m.channel = "doc:wo:1";
  m.event = "invalidate";
  m.payload = R"({"type":"wo","id":"1","factoryId":"F1","action":"update"})";
  m.factory = "F1";
  m.contract = true;
  m.record = R"({"schema":"public","table":"work_orders","type":"UPDATE"})";
  return m;
}

TEST(Wire, EveryKindRoundTrips) {
  channel_message raw;
  raw.channel = std::string("\x02room", 5);
  raw.event = "ping";
  raw.payload = std::string("\x00\xff\x01", 3);
  raw.origin_node = "node-a:4000";
  raw.origin_conn = 1234567890123;
  raw.raw = true;
  const std::vector<stream_body> bodies = {
      sample(),
      raw,
      record_message{std::string("\x01pg:public.t"), std::string("F1"), "{}"},
      record_message{std::string("\x01pg:public.t"), std::nullopt, "{}"},
      gap_message{"truncate", {{"public", "work_orders", "wo"}, {"public", "audit", ""}}, "TRUNCATE at 0/1"},
      gap_message{"slot_created", {}, ""},
      writer_message{"node-b"},
      position_message{},
      ingest_batch{{sample(), raw}},
      ingest_batch{},
  };
  for (const auto& b : bodies) {
    auto back = decode_body(encode_body(b));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, b);
  }
}

TEST(Wire, MalformedBodiesAreRefusedWithTheFieldNamed) {
  const std::string good = encode_body(sample());
  auto expect_refused = [](std::string_view bytes, std::string_view mentions) {
    auto r = decode_body(bytes);
    ASSERT_FALSE(r) << "accepted";
    EXPECT_NE(r.error().message.find(mentions), std::string::npos) << r.error().message;
  };
  expect_refused("", "not an rtcache body");
  expect_refused("{\"json\":1}", "not an rtcache body");
  expect_refused(std::string("R\x02\x01", 3), "version 2");
  expect_refused(std::string("R\x01\x09", 3), "unknown kind 9");
  for (std::size_t cut = 3; cut < good.size(); ++cut) {
    EXPECT_FALSE(decode_body(good.substr(0, cut))) << "truncated at " << cut;
  }
  expect_refused(good + "x", "bytes after the last field");
  // A channel name holding NUL could collide in the epoch's derivation input.
  channel_message nul = sample();
  nul.channel = std::string("doc:wo:1\0x", 10);
  expect_refused(encode_body(nul), "NUL");
  channel_message both = sample();
  both.raw = true;
  expect_refused(encode_body(both), "cannot be raw");
  // A length past the bound is refused before anything is read.
  std::string huge = "R";
  huge += '\x01';
  huge += '\x01';
  huge += "\xff\xff\xff\xff\x0f";  // a channel of 4 GiB
  expect_refused(huge, "over the bound");
  // A number in a longer form than needed: one spelling per body.
  std::string padded = "R";
  padded += '\x01';
  padded += '\x04';
  padded += std::string("\x81\x00", 2);
  expect_refused(padded, "shortest form");
}

TEST(Wire, BoundsAreTheLimitsGiven) {
  wire_limits tight;
  tight.max_payload_bytes = 8;
  tight.max_items = 1;
  auto r = decode_body(encode_body(sample()), tight);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::errc::too_long);
  channel_message small = sample();
  small.payload = "{}";
  small.record.reset();
  EXPECT_TRUE(decode_body(encode_body(ingest_batch{{small}}), tight));
  auto many = decode_body(encode_body(ingest_batch{{small, small}}), tight);
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code, core::errc::too_many);
}

}  // namespace
}  // namespace rtcache::cluster
