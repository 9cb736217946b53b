// The load generator's wire pieces: RFC 6455 client framing, the HS256 tokens it connects with (checked by
// rtcache's own verifier), the latency histogram's quantiles, and its command line.
#include "auth/auth.hpp"
#include "latency_histogram.hpp"
#include "load_jwt.hpp"
#include "load_options.hpp"
#include "ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

namespace rtcache::load {
namespace {

std::string server_frame(ws_opcode op, std::size_t n, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<int>(op)));
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(127));
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<char>((n >> s) & 0xFF));
  }
  return f + std::string(n, 'a');
}

TEST(LoadWsFrame, ReadsSevenSixteenAndSixtyFourBitLengths) {
  for (const std::size_t n :
       {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{65535}, std::size_t{65536}}) {
    const auto f = server_frame(ws_opcode::text, n);
    const auto r = parse_frame_header(f);
    ASSERT_EQ(r.status, ws_parse_status::ok) << n;
    EXPECT_TRUE(r.header.fin);
    EXPECT_FALSE(r.header.masked);
    EXPECT_EQ(r.header.opcode, ws_opcode::text);
    EXPECT_EQ(r.header.payload_bytes, n);
    EXPECT_EQ(r.header.header_bytes + n, f.size()) << n;
  }
}

TEST(LoadWsFrame, AsksForMoreUntilTheWholeHeaderIsThere) {
  const auto f = server_frame(ws_opcode::binary, 70000);
  for (std::size_t cut = 0; cut < 10; ++cut) {
    EXPECT_EQ(parse_frame_header(std::string_view(f).substr(0, cut)).status, ws_parse_status::need_more) << cut;
  }
  EXPECT_EQ(parse_frame_header(std::string_view(f).substr(0, 10)).status, ws_parse_status::ok);
}

TEST(LoadWsFrame, RefusesReservedBitsUnknownOpcodesAndBadControlFrames) {
  EXPECT_EQ(parse_frame_header(std::string("\xC1\x00", 2)).status, ws_parse_status::protocol_error);  // RSV1
  EXPECT_EQ(parse_frame_header(std::string("\x83\x00", 2)).status, ws_parse_status::protocol_error);  // opcode 3
  EXPECT_EQ(parse_frame_header(server_frame(ws_opcode::ping, 126)).status, ws_parse_status::protocol_error);
  EXPECT_EQ(parse_frame_header(server_frame(ws_opcode::close, 2, false)).status, ws_parse_status::protocol_error);
  std::string huge("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00", 10);  // 64-bit length with the top bit set
  EXPECT_EQ(parse_frame_header(huge).status, ws_parse_status::protocol_error);
}

TEST(LoadWsFrame, ClientFramesAreMaskedAndUnmaskToThePayload) {
  for (const std::size_t n : {std::size_t{5}, std::size_t{300}, std::size_t{70000}}) {
    std::string payload(n, '\0');
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string f;
    append_client_frame(f, ws_opcode::text, payload, 0x37FA213DU);
    const auto r = parse_frame_header(f);
    ASSERT_EQ(r.status, ws_parse_status::ok);
    EXPECT_TRUE(r.header.masked);
    EXPECT_EQ(r.header.mask_key, 0x37FA213DU);
    ASSERT_EQ(r.header.header_bytes + n, f.size());
    std::string body = f.substr(r.header.header_bytes);
    EXPECT_NE(body, payload);
    apply_mask(body.data(), body.size(), r.header.mask_key);
    EXPECT_EQ(body, payload);
  }
}

TEST(LoadWsFrame, MatchesTheMaskedHelloOfRfc6455) {
  // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
  std::string f;
  append_client_frame(f, ws_opcode::text, "Hello", 0x37FA213DU);
  EXPECT_EQ(f, std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
}

TEST(LoadWsFrame, CloseCodeIsTheFirstTwoBytesBigEndian) {
  EXPECT_EQ(close_code_of(std::string("\x0f\xa8send queue overflow")), 4008);
  EXPECT_EQ(close_code_of("x"), std::nullopt);
}

TEST(LoadJwt, Base64UrlFollowsRfc4648WithoutPadding) {
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url("\xfb\xff"), "-_8");
}

constexpr std::string_view k_secret = "load-generator-test-secret-0123456789abcdef";

auth::jwt_verifier verifier(std::string_view secret) {
  auto key = auth::verification_key::hs256(secret);
  EXPECT_TRUE(key.has_value());
  auto v = auth::jwt_verifier::create({*key});
  EXPECT_TRUE(v.has_value());
  return std::move(*v);
}

TEST(LoadJwt, UserTokenVerifiesWithTheServersVerifierAndCarriesItsScope) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto token = user_token(k_secret, "load-1", {"f1", "f3"}, now, std::chrono::hours(1));
  const auto p = verifier(k_secret).verify(token, now);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, auth::auth_role::authenticated);
  EXPECT_EQ(p->subject, "load-1");
  EXPECT_TRUE(p->scope.contains("f1"));
  EXPECT_TRUE(p->scope.contains("f3"));
  EXPECT_FALSE(p->scope.contains("f2"));
}

TEST(LoadJwt, ServiceTokenIsServiceRoleAndAnotherSecretIsRefused) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const auto token = service_token(k_secret, now, std::chrono::hours(1));
  const auto p = verifier(k_secret).verify(token, now);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, auth::auth_role::service_role);
  EXPECT_FALSE(verifier("another-secret-of-enough-length-0123456789").verify(token, now).has_value());
}

TEST(LatencyHistogram, QuantilesOfAUniformMicrosecondRange) {
  latency_histogram h;
  for (std::int64_t us = 1; us <= 1000; ++us) h.record(us * 1000 - 1);  // [0.999 µs, 999.999 µs]
  EXPECT_EQ(h.count(), 1000U);
  EXPECT_EQ(h.quantile_ns(0.50), 500'000);
  EXPECT_EQ(h.quantile_ns(0.99), 990'000);
  EXPECT_EQ(h.quantile_ns(1.0), h.max_ns());
  EXPECT_EQ(h.max_ns(), 999'999);
}

TEST(LatencyHistogram, LargeValuesStayWithinTheBucketError) {
  latency_histogram h;
  for (const std::int64_t ns : {std::int64_t{3'333'333}, std::int64_t{47'000'000}, std::int64_t{2'000'000'000}}) {
    latency_histogram one;
    one.record(ns);
    one.record(ns * 2);  // keeps the max above, so the bucket edge is what the quantile shows
    const auto q = one.quantile_ns(0.5);
    EXPECT_GE(q, ns);
    EXPECT_LE(static_cast<double>(q), static_cast<double>(ns) * 1.016) << ns;
    h.merge(one);
  }
  EXPECT_EQ(h.count(), 6U);
  EXPECT_EQ(h.max_ns(), 4'000'000'000);
}

TEST(LatencyHistogram, EmptyAndNegativeSamples) {
  latency_histogram h;
  EXPECT_EQ(h.quantile_ns(0.99), 0);
  h.record(-5);
  EXPECT_EQ(h.count(), 1U);
  EXPECT_EQ(h.max_ns(), 0);
  EXPECT_EQ(h.quantile_ns(0.5), 0);
}

const char* const k_load_secret = "0123456789abcdef0123456789abcdef";

options parsed(std::vector<const char*> argv) {
  argv.insert(argv.begin(), "rtcache_load");
  auto p = parse_options(static_cast<int>(argv.size()), argv.data(), k_load_secret);
  if (auto* why = std::get_if<std::string>(&p)) ADD_FAILURE() << *why;
  return std::get<options>(p);
}

TEST(LoadOptions, ThePublisherPostsToTheClientsServerUnlessPublishPortIsGiven) {
  const options same = parsed({"throughput", "--host", "127.0.0.7", "--port", "4001"});
  EXPECT_EQ(same.publish_host, "127.0.0.7");
  EXPECT_EQ(same.publish_port, 4001);
  const options other = parsed({"throughput", "--port", "4002", "--publish-port", "4001"});
  EXPECT_EQ(other.port, 4002);
  EXPECT_EQ(other.publish_host, "127.0.0.1");
  EXPECT_EQ(other.publish_port, 4001);
  const options elsewhere =
      parsed({"throughput", "--port", "4002", "--publish-port", "4001", "--publish-host", "127.0.0.9"});
  EXPECT_EQ(elsewhere.publish_host, "127.0.0.9");
}

TEST(LoadOptions, AMissingValueOrAShortSecretIsRefusedWithTheReason) {
  const char* no_value[] = {"rtcache_load", "throughput", "--publish-port"};
  const auto a = parse_options(3, no_value, k_load_secret);
  ASSERT_TRUE(std::holds_alternative<std::string>(a));
  EXPECT_EQ(std::get<std::string>(a), "--publish-port needs a value");
  const char* short_secret[] = {"rtcache_load", "throughput"};
  const auto b = parse_options(2, short_secret, "short");
  ASSERT_TRUE(std::holds_alternative<std::string>(b));
  EXPECT_NE(std::get<std::string>(b).find("at least 32 bytes"), std::string::npos);
  const char* not_a_number[] = {"rtcache_load", "throughput", "--publish-port", "x"};
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_options(4, not_a_number, k_load_secret)));
}

}  // namespace
}  // namespace rtcache::load
