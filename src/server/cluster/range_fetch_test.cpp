// Range fetches against a real nats-server: both methods return exactly the subject's messages in the range.
#include "cluster/range_fetch.hpp"

#include "cluster/publisher.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

class RangeFetch : public ::testing::TestWithParam<fetch_method> {
 protected:
  void SetUp() override {
    conn_ = test::connect_or_die(test::shared_server().url());
    st_ = test::test_stream("range");
    ASSERT_TRUE(ensure_stream(*conn_, st_));
    // 1..300: every 10th message on list.wo.F1, every 10th + 5 on list.wo.F2, the rest on doc subjects.
    auto pub = publisher::create(*conn_).value();
    std::uint64_t last = 0;
    const std::vector<header> h = {{"Rtcache-Test", "yes"}};
    for (int i = 1; i <= 300; ++i) {
      const std::string sub = i % 10 == 0 ? "list.wo.F1" : i % 10 == 5 ? "list.wo.F2" : "doc.wo." + std::to_string(i);
      last = pub->publish({st_.name + "." + sub, "id" + std::to_string(i), h, std::to_string(i)}).value();
    }
    ASSERT_TRUE(pub->wait_acked(last, 10s));
  }

  range_request request(const std::string& subject, std::uint64_t from, std::uint64_t to) const {
    range_request r;
    r.stream = st_.name;
    r.subject = st_.name + "." + subject;
    r.from_seq = from;
    r.to_seq = to;
    return r;
  }

  std::unique_ptr<connection> conn_;
  stream_settings st_;
};

std::vector<std::uint64_t> seqs(const std::vector<stream_message>& v) {
  std::vector<std::uint64_t> out;
  for (const auto& m : v) out.push_back(m.seq);
  return out;
}

TEST_P(RangeFetch, ReturnsOnlyTheSubjectWithinTheRangeInOrder) {
  auto r = fetch_range(*conn_, request("list.wo.F1", 35, 90), GetParam());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(seqs(*r), (std::vector<std::uint64_t>{40, 50, 60, 70, 80, 90}));
  EXPECT_EQ(r->front().data, "40");
  EXPECT_EQ(r->front().subject, st_.name + ".list.wo.F1");
  EXPECT_EQ(r->front().header_value("Rtcache-Test"), "yes");
  EXPECT_EQ(r->front().header_value(msg_id_header), "id40");
  EXPECT_FALSE(r->front().header_value("Nats-Sequence")) << "a message reads the same whichever way it came";
  EXPECT_GT(r->front().time_ns, 0);
}

TEST_P(RangeFetch, WildcardSubjectSetInterleavesBySequence) {
  auto r = fetch_range(*conn_, request("list.wo.*", 1, 30), GetParam());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(seqs(*r), (std::vector<std::uint64_t>{5, 10, 15, 20, 25, 30}));
}

TEST_P(RangeFetch, EmptyRangesReturnAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  auto none_in_range = fetch_range(*conn_, request("list.wo.F1", 41, 49), GetParam());
  ASSERT_TRUE(none_in_range) << none_in_range.error().message;
  EXPECT_TRUE(none_in_range->empty());
  auto past_the_end = fetch_range(*conn_, request("list.wo.F1", 301, 1000), GetParam());
  ASSERT_TRUE(past_the_end) << past_the_end.error().message;
  EXPECT_TRUE(past_the_end->empty());
  auto unknown = fetch_range(*conn_, request("list.wo.F9", 1, 300), GetParam());
  ASSERT_TRUE(unknown) << unknown.error().message;
  EXPECT_TRUE(unknown->empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "no empty fetch waits for a timeout";
}

TEST_P(RangeFetch, MoreThanTheBoundIsTooManyNotAPartialAnswer) {
  auto req = request("list.wo.F1", 1, 300);
  req.max_messages = 29;
  auto r = fetch_range(*conn_, req, GetParam());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::too_many);
  req.max_messages = 30;
  EXPECT_EQ(fetch_range(*conn_, req, GetParam())->size(), 30u);
}

INSTANTIATE_TEST_SUITE_P(Methods, RangeFetch, ::testing::Values(fetch_method::direct_get, fetch_method::consumer),
                         [](const auto& param_info) {
                           return param_info.param == fetch_method::direct_get ? std::string("DirectGet")
                                                                               : std::string("Consumer");
                         });

TEST(RangeFetchArgs, AreCheckedBeforeAnyRequest) {
  auto conn = test::connect_or_die(test::shared_server().url());
  range_request req;
  req.stream = "s";
  req.subject = "x";
  req.from_seq = 5;
  req.to_seq = 4;
  auto r = fetch_range(*conn, req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_settings);
}

}  // namespace
}  // namespace rtcache::cluster
