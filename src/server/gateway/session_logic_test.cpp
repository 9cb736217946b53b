// Tests of the session logic on a manual clock, with no socket and no hub: inbound messages in, commands out.
// One group per rule: join (authorisation, rate and channel bounds, views, private channels, bindings, the reply
// and its ordering), leave, client broadcast (permission, rate limit, ack), access_token (revocation, view
// change, the connection's token), token expiry (the deadline and what it closes), and the closes (4008 on
// overflow, 1001 on shutdown); then the per-delivery decision (frames_for). Messages are Phoenix vsn 2.0.0 arrays
// as realtime-js sends them: [join_ref, ref, topic, event, payload].
#include "session_logic.hpp"

#include "gateway_client.hpp"  // hs256, k_test_secret
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "test_rows.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using testing::k_test_secret;

constexpr auto v2 = protocol::protocol_version::v2_0_0;
constexpr std::uint64_t k_connection = 7;
// The manual clock's start: any steady instant, and a wall time in 2027.
const std::chrono::steady_clock::time_point k_steady0 = std::chrono::steady_clock::time_point{} + 1000h;
constexpr std::chrono::sys_seconds k_wall0{std::chrono::seconds{1'800'000'000}};

// A token signed with the test secret: `role`, expiring `exp_in` after k_wall0, with app_metadata.factory_ids
// (unless service_role) and `extra` claims.
std::string token(std::string_view role, const std::vector<std::string>& factories = {},
                  std::chrono::seconds exp_in = 3600s, std::string_view extra = {}) {
  std::string payload = R"({"role":")" + std::string(role) + R"(","sub":"u1","exp":)" +
                        std::to_string((k_wall0 + exp_in).time_since_epoch().count());
  if (role != "service_role") {
    payload += R"(,"app_metadata":{"factory_ids":[)";
    for (std::size_t i = 0; i < factories.size(); ++i) payload += (i != 0 ? ",\"" : "\"") + factories[i] + "\"";
    payload += "]}";
  }
  if (!extra.empty()) payload += "," + std::string(extra);
  payload += "}";
  return testing::hs256(R"({"alg":"HS256","typ":"JWT"})", payload);
}

// A decoded outbound frame.
struct frame {
  json::value join_ref, ref;
  std::string topic, event;
  json::value payload;
};

frame parse(std::string_view text) {
  const auto a = json::parse(text).as_array();
  return {a.at(0), a.at(1), std::string(a.at(2).as_string()), std::string(a.at(3).as_string()), a.at(4)};
}

class SessionLogic : public ::testing::Test {
 protected:
  SessionLogic() { limits_.max_channels_per_connection = 4; }

  // The session under test, connected with `connect_token` at k_steady0 / k_wall0.
  session_logic& open(const std::string& connect_token) {
    session_.reset();
    env_.emplace(session_env{limits_, verifier_, access_, types_, mapping_.get(), metrics_, log_});
    session_.emplace(*env_, v2, k_connection, verifier_.verify(connect_token, k_wall0).value(), k_steady0);
    return *session_;
  }

  void allow_client_broadcasts(std::vector<auth::private_channel_rule> rules = {}) {
    auth::channel_policy p;
    p.from_clients = auth::client_broadcasts::all;
    p.private_rules = std::move(rules);
    access_ = auth::channel_access::create(std::move(p)).value();
  }

  session_time at(std::chrono::seconds after) const { return {k_steady0 + after, k_wall0 + after}; }

  session_output message(std::string_view text, std::chrono::seconds after = 0s) {
    session_output out;
    session_->on_message(text, false, at(after), out);
    return out;
  }

  static std::string join_message(std::string_view topic, std::string_view ref, std::string_view payload = "{}") {
    return R"([")" + std::string(ref) + R"(",")" + std::string(ref) + R"(",")" + std::string(topic) +
           R"(","phx_join",)" + std::string(payload) + "]";
  }

  // Sends a phx_join; returns its output (a subscribe_command, or a refusal).
  session_output send_join(std::string_view topic, std::string_view ref = "1", std::string_view payload = "{}",
                           std::chrono::seconds after = 0s) {
    return message(join_message(topic, ref, payload), after);
  }

  // Joins `topic` as the hub would answer at `position`, with `replay`; returns the open_command's frames.
  std::vector<out_frame> join(std::string_view topic, std::string_view ref = "1", std::string_view payload = "{}",
                              hub::hub_position position = {"e1", 5}, bool recovered = false,
                              std::vector<hub::hub_message_ptr> replay = {}, std::chrono::seconds after = 0s) {
    auto out = send_join(topic, ref, payload, after);
    auto* cmd = last<subscribe_command>(out);
    if (cmd == nullptr) {
      ADD_FAILURE() << "join of " << topic << " refused: " << texts(out).at(0);
      return {};
    }
    session_output answer;
    hub::hub_join j;
    j.position = std::move(position);
    j.recovered = recovered;
    j.replay = std::move(replay);
    session_->on_subscribed(*cmd, std::move(j), std::vector<hub::hub_subscription>(cmd->tables.size()), at(after),
                            answer);
    EXPECT_EQ(answer.commands.size(), 1U);
    auto* open = last<open_command>(answer);
    return open == nullptr ? std::vector<out_frame>{} : std::move(open->frames);
  }

  template <class T>
  static T* last(session_output& out) {
    for (auto it = out.commands.rbegin(); it != out.commands.rend(); ++it) {
      if (auto* c = std::get_if<T>(&*it)) return c;
    }
    return nullptr;
  }

  template <class T>
  static std::size_t count(const session_output& out) {
    std::size_t n = 0;
    for (const auto& c : out.commands) n += std::holds_alternative<T>(c) ? 1U : 0U;
    return n;
  }

  // The frames of the output's send_commands, in order.
  static std::vector<std::string> texts(const session_output& out) {
    std::vector<std::string> t;
    for (const auto& c : out.commands) {
      if (const auto* s = std::get_if<send_command>(&c)) t.push_back(s->frame);
    }
    return t;
  }
  static std::vector<frame> frames(const session_output& out) {
    std::vector<frame> f;
    for (const auto& t : texts(out)) f.push_back(parse(t));
    return f;
  }

  static std::string reason_of(const frame& f) {
    return std::string(f.payload.at("response").at("reason").as_string());
  }

  gateway_limits limits_;
  auth::jwt_verifier verifier_ =
      auth::jwt_verifier::create({auth::verification_key::hs256(k_test_secret).value()}, auth::verifier_config{})
          .value();
  auth::channel_access access_;
  core::doc_type_registry types_ = core::doc_type_registry::defaults();
  std::shared_ptr<const routing::mapping_config> mapping_ = testing::test_mapping();
  gateway_metrics metrics_;
  logger log_{log_level::off};
  std::optional<session_env> env_;
  std::optional<session_logic> session_;
};

// ---- join ----

TEST_F(SessionLogic, JoinAsksForTheChannelsViewOfTheTokensScope) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1");
  ASSERT_EQ(out.commands.size(), 1U);
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->channel->hub_name, "doc:wo:1");
  EXPECT_EQ(cmd->channel->view.factory_ids(), std::vector<std::string>{"A"});  // issue 11, finding 3
  EXPECT_TRUE(cmd->channel->key.has_value());
  EXPECT_FALSE(cmd->resume.has_value());
  EXPECT_TRUE(cmd->tables.empty());
  EXPECT_EQ(session_->channel_count(), 0U);  // joined once the hub answered
}

TEST_F(SessionLogic, ListAndNonContractChannelsJoinTheUnscopedView) {
  open(token("authenticated", {"A"}));
  auto list = send_join("realtime:list:wo:A");
  ASSERT_EQ(count<subscribe_command>(list), 1U);
  EXPECT_TRUE(last<subscribe_command>(list)->channel->view.is_unscoped());
  auto room = send_join("realtime:room1", "2");
  ASSERT_EQ(count<subscribe_command>(room), 1U);
  EXPECT_TRUE(last<subscribe_command>(room)->channel->view.is_unscoped());
}

TEST_F(SessionLogic, JoinReplyCarriesTheHubsPositionThenTheReplayInOrder) {
  open(token("authenticated", {"A"}));
  auto replayed = [](std::string text) {
    auto m = std::make_shared<hub::hub_message>();
    m->frames.v2_text = std::move(text);
    m->meta.factory_id = "A";
    return hub::hub_message_ptr(m);
  };
  const auto frames = join("realtime:doc:wo:1", "3", R"({"rtcache":{"epoch":"e1","offset":3}})", {"e1", 5}, true,
                           {replayed("four"), replayed("five")});
  ASSERT_EQ(frames.size(), 3U);
  const auto reply = parse(frames[0].bytes());
  EXPECT_EQ(reply.event, "phx_reply");
  EXPECT_EQ(reply.ref, "3");
  EXPECT_EQ(reply.payload.at("status"), "ok");
  EXPECT_EQ(json::serialize(reply.payload.at("response")),
            R"({"postgres_changes":[],"rtcache":{"epoch":"e1","offset":5,"recovered":true}})");
  EXPECT_EQ(frames[1].bytes(), "four");
  EXPECT_EQ(frames[2].bytes(), "five");
  EXPECT_EQ(session_->channel_count(), 1U);
  EXPECT_EQ(metrics_.joins_total.Value(), 1);
  EXPECT_EQ(metrics_.joins_recovered_total.Value(), 1);
}

// issue 15: rtcache_join_reply_seconds runs from the join's receipt to its reply's write; a replayed message is
// not a live delivery, so it does not count in the fan-out latency.
TEST_F(SessionLogic, JoinRepliesAreTimedFromTheJoinsReceiptAndReplaysAreNotTimed) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1", "1", "{}", 7s);
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  auto m = std::make_shared<hub::hub_message>();
  m->frames.v2_text = "old";
  m->meta.factory_id = "A";
  m->published_at = k_steady0;
  hub::hub_join j;
  j.position = {"e1", 1};
  j.replay = {m};
  session_output answer;
  session_->on_subscribed(*cmd, std::move(j), {}, at(9s), answer);  // the hub answered later
  auto* open_cmd = last<open_command>(answer);
  ASSERT_NE(open_cmd, nullptr);
  ASSERT_EQ(open_cmd->frames.size(), 2U);
  EXPECT_EQ(open_cmd->frames[0].latency, out_frame::timed::join_reply);
  EXPECT_EQ(open_cmd->frames[0].since, k_steady0 + 7s);
  EXPECT_EQ(open_cmd->frames[1].latency, out_frame::timed::no);

  const auto refused = send_join("realtime:list:wo:B", "2", "{}", 11s);
  const auto* reply = std::get_if<send_command>(&refused.commands.at(0));
  ASSERT_NE(reply, nullptr);
  ASSERT_TRUE(reply->join_received.has_value());
  EXPECT_EQ(*reply->join_received, k_steady0 + 11s);
  const auto heartbeat = message(R"([null,"9","phoenix","heartbeat",{}])", 12s);
  EXPECT_FALSE(std::get<send_command>(heartbeat.commands.at(0)).join_received.has_value());
}

TEST_F(SessionLogic, ResumePositionGoesToTheHub) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1", "1", R"({"rtcache":{"epoch":"e9","offset":42}})");
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  ASSERT_TRUE(cmd->resume.has_value());
  EXPECT_EQ(*cmd->resume, (hub::hub_position{"e9", 42}));
}

TEST_F(SessionLogic, JoinsOutsideTheScopeOrMalformedAreRefusedWithTheirReason) {
  open(token("authenticated", {"A"}));
  struct refused_case {
    std::string topic;
    std::string payload;
    std::string reason;
  };
  for (const auto& [topic, payload, reason] : std::vector<refused_case>{
           {"realtime:list:wo:B", "{}",
            "Unauthorized: You do not have permissions to read from this Channel topic: list:wo:B"},
           {"realtime:factory:B", "{}",
            "Unauthorized: You do not have permissions to read from this Channel topic: factory:B"},
           {"realtime:doc:nope:1", "{}", "unknown_doc_type"},
           {"realtime:", "{}", "empty_segment"},
           {"realtime:room1", R"({"config":{"broadcast":"yes"}})", "wrong_type"},
           {"realtime:room1", R"({"access_token":"not-a-jwt"})", "MalformedJWT"}}) {
    auto out = send_join(topic, "1", payload);
    ASSERT_EQ(out.commands.size(), 1U) << topic;
    const auto f = frames(out).at(0);
    EXPECT_EQ(f.payload.at("status"), "error") << topic;
    EXPECT_NE(reason_of(f).find(reason), std::string::npos) << topic << ": " << reason_of(f);
  }
  EXPECT_EQ(metrics_.joins_refused_total.Value(), 6);
  EXPECT_EQ(metrics_.auth_refusals_total.Value(), 1);
}

TEST_F(SessionLogic, JoinsBeyondTheBurstWaitForTheBucketToRefill) {
  limits_.join_burst = 2;
  limits_.joins_per_second = 1;
  open(token("service_role"));
  EXPECT_EQ(count<subscribe_command>(send_join("realtime:a", "1")), 1U);
  EXPECT_EQ(count<subscribe_command>(send_join("realtime:b", "2")), 1U);
  const auto refused = send_join("realtime:c", "3");
  EXPECT_EQ(reason_of(frames(refused).at(0)), "ChannelRateLimitReached: Too many joins per second");
  const auto still = send_join("realtime:c", "4", "{}", 0s);
  EXPECT_EQ(count<subscribe_command>(still), 0U);
  const auto later = send_join("realtime:c", "5", "{}", 1s);  // one token back after a second
  EXPECT_EQ(count<subscribe_command>(later), 1U);
}

TEST_F(SessionLogic, JoinsBeyondTheChannelBoundAreRefusedButARejoinReplacesTheOldJoin) {
  limits_.max_channels_per_connection = 1;
  open(token("service_role"));
  join("realtime:a", "1");
  const auto refused = send_join("realtime:b", "2");
  EXPECT_EQ(reason_of(frames(refused).at(0)), "ChannelRateLimitReached: Too many channels");
  auto rejoin = send_join("realtime:a", "3");
  ASSERT_EQ(rejoin.commands.size(), 2U);
  auto* leave = std::get_if<leave_command>(&rejoin.commands[0]);
  ASSERT_NE(leave, nullptr);  // the old join is left before the new one subscribes
  EXPECT_EQ(leave->channel->join_ref, std::optional<std::string>("1"));
  EXPECT_TRUE(std::holds_alternative<subscribe_command>(rejoin.commands[1]));
  EXPECT_EQ(session_->channel_count(), 0U);
}

TEST_F(SessionLogic, ExpiredConnectionTokenRefusesJoinsWithoutATokenOfTheirOwn) {
  open(token("authenticated", {"A"}, 60s));
  const auto refused = send_join("realtime:room1", "1", "{}", 120s);  // exp 60 s + leeway 30 s passed
  EXPECT_EQ(reason_of(frames(refused).at(0)), "InvalidJWTToken: Token has expired 60 seconds ago");
  const auto with_token =
      send_join("realtime:room1", "2", R"({"access_token":")" + token("authenticated", {"A"}, 3600s) + R"("})", 121s);
  EXPECT_EQ(count<subscribe_command>(with_token), 1U);
}

TEST_F(SessionLogic, AJoinWithTheConnectionsOwnTokenSharesItsPrincipal) {
  const std::string own = token("authenticated", {"A"});
  open(own);
  auto same = send_join("realtime:room1", "1", R"({"access_token":")" + own + R"("})");
  EXPECT_EQ(last<subscribe_command>(same)->channel->who.get(), &session_->connection_principal());
  auto other = send_join("realtime:room2", "2", R"({"access_token":")" + token("authenticated", {"B"}) + R"("})");
  EXPECT_NE(last<subscribe_command>(other)->channel->who.get(), &session_->connection_principal());
}

TEST_F(SessionLogic, PrivateChannelsNeedARuleAndAreTheirOwnHubChannel) {
  auth::private_channel_rule rule;
  rule.topic = "room:*";
  rule.roles = {auth::auth_role::authenticated};
  allow_client_broadcasts({rule});
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:room:1", "1", R"({"config":{"private":true}})");
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->channel->hub_name, ingest::private_hub_channel("room:1"));
  EXPECT_TRUE(cmd->channel->is_private);
  const auto refused = send_join("realtime:other", "2", R"({"config":{"private":true}})");
  EXPECT_EQ(reason_of(frames(refused).at(0)),
            "Unauthorized: You do not have permissions to read from this Channel topic: other");
}

TEST_F(SessionLogic, BindingsOfANonContractChannelExpandToEachConfiguredTableOnce) {
  open(token("service_role"));
  auto out = send_join("realtime:room1", "1",
                       R"({"config":{"postgres_changes":[{"event":"*","schema":"public"},
                           {"event":"INSERT","schema":"public","table":"announcements"}]}})");
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  // In the mapping's order (binding_tables), each table once.
  EXPECT_EQ(cmd->tables, (std::vector<std::string>{ingest::postgres_table_channel("public", "announcements"),
                                                   ingest::postgres_table_channel("public", "work_orders")}));
  // On a contract channel the records come attached to the channel's own messages.
  auto doc =
      send_join("realtime:doc:wo:1", "2", R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]}})");
  EXPECT_TRUE(last<subscribe_command>(doc)->tables.empty());
}

TEST_F(SessionLogic, BindingOnATableThatIsNotServedIsRefused) {
  open(token("service_role"));
  const auto out = send_join("realtime:room1", "1",
                             R"({"config":{"postgres_changes":[{"event":"*","schema":"public","table":"secrets"}]}})");
  ASSERT_EQ(count<subscribe_command>(out), 0U);
  EXPECT_EQ(frames(out).at(0).payload.at("status"), "error");
}

TEST_F(SessionLogic, AJoinWithBindingsGetsTheSubscribedPushAfterItsReply) {
  open(token("service_role"));
  const auto f = join("realtime:room1", "1", R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]}})");
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(parse(f[0].bytes()).event, "phx_reply");
  const auto sys = parse(f[1].bytes());
  EXPECT_EQ(sys.event, "system");
  EXPECT_EQ(sys.payload.at("extension"), "postgres_changes");
}

TEST_F(SessionLogic, AViewTheHubRefusesRefusesTheJoin) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1", "4");
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  session_output answer;
  session_->on_subscribe_refused(*cmd, answer);
  const auto f = frames(answer).at(0);
  EXPECT_EQ(f.ref, "4");
  EXPECT_EQ(reason_of(f), "ChannelRateLimitReached: Too many factory scopes on this channel");
  EXPECT_EQ(session_->channel_count(), 0U);
}

TEST_F(SessionLogic, ANodeNotReadyRefusesTheJoinWithItsReason) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1", "5");
  auto* cmd = last<subscribe_command>(out);
  ASSERT_NE(cmd, nullptr);
  session_output answer;
  session_->on_node_not_ready(*cmd, "catching up with the stream", answer);
  const auto f = frames(answer).at(0);
  EXPECT_EQ(f.ref, "5");
  EXPECT_EQ(reason_of(f), "NodeNotReady: catching up with the stream");
  EXPECT_EQ(session_->channel_count(), 0U);
}

// ---- leave ----

TEST_F(SessionLogic, LeaveStopsTheChannelThenRepliesOkAndClosesWithTheJoinRef) {
  open(token("service_role"));
  join("realtime:room1", "j1");
  auto out = message(R"([null,"9","realtime:room1","phx_leave",{}])");
  ASSERT_EQ(out.commands.size(), 3U);
  EXPECT_TRUE(std::holds_alternative<leave_command>(out.commands[0]));
  const auto f = frames(out);
  EXPECT_EQ(f[0].event, "phx_reply");
  EXPECT_EQ(f[0].ref, "9");
  EXPECT_EQ(f[1].event, "phx_close");
  EXPECT_EQ(f[1].ref, "j1");  // realtime-js ignores a phx_close whose ref is not the channel's join ref
  EXPECT_EQ(session_->channel_count(), 0U);
}

TEST_F(SessionLogic, LeaveOfATopicNotJoinedStillAnswers) {
  open(token("service_role"));
  auto out = message(R"(["j2","9","realtime:room1","phx_leave",{}])");
  EXPECT_EQ(count<leave_command>(out), 0U);
  const auto f = frames(out);
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[1].ref, "j2");
}

// ---- client broadcasts ----

TEST_F(SessionLogic, ClientBroadcastIsPublishedToTheHubChannelAndAckedWhenAsked) {
  allow_client_broadcasts();
  open(token("authenticated", {"A"}));
  join("realtime:room1", "1", R"({"config":{"broadcast":{"ack":true,"self":true}}})");
  auto out = message(R"(["1","2","realtime:room1","broadcast",{"type":"broadcast","event":"hi","payload":{"n":1}}])");
  auto* cmd = last<publish_command>(out);
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->channel->hub_name, "room1");
  EXPECT_EQ(cmd->event, "hi");
  EXPECT_EQ(cmd->payload, R"({"n":1})");
  EXPECT_TRUE(cmd->factory_id.empty());
  session_output answer;
  session_->on_published(*cmd, nullptr, answer);
  const auto f = frames(answer);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].ref, "2");
  EXPECT_EQ(f[0].payload.at("status"), "ok");
  EXPECT_EQ(metrics_.broadcasts_total.Value(), 1);
}

TEST_F(SessionLogic, AFailedPublishAnswersWithTheHubsError) {
  allow_client_broadcasts();
  open(token("authenticated", {"A"}));
  join("realtime:room1");
  auto out = message(R"(["1","2","realtime:room1","broadcast",{"event":"hi","payload":{}}])");
  auto* cmd = last<publish_command>(out);
  ASSERT_NE(cmd, nullptr);
  session_output answer;
  const core::error e{core::errc::too_long, "event is longer than 255 bytes"};
  session_->on_published(*cmd, &e, answer);
  EXPECT_EQ(reason_of(frames(answer).at(0)), "event is longer than 255 bytes");
  EXPECT_EQ(metrics_.broadcasts_total.Value(), 0);
}

TEST_F(SessionLogic, BroadcastsAreRefusedOnTopicsNotJoinedAndWhenClientsMayNotSend) {
  open(token("authenticated", {"A"}));  // broadcast.from_clients is off by default
  EXPECT_EQ(reason_of(frames(message(R"(["1","2","realtime:room1","broadcast",{"event":"e"}])")).at(0)),
            "unmatched topic");
  join("realtime:room1");
  const auto refused = message(R"(["1","3","realtime:room1","broadcast",{"event":"e"}])");
  EXPECT_EQ(count<publish_command>(refused), 0U);
  EXPECT_EQ(frames(refused).at(0).payload.at("status"), "error");
  EXPECT_EQ(metrics_.client_broadcasts_refused_total.Value(), 1);
  // Without a ref nothing is answered.
  EXPECT_TRUE(message(R"(["1",null,"realtime:room1","broadcast",{"event":"e"}])").commands.empty());
}

TEST_F(SessionLogic, OnlyServiceRoleBroadcastsOnContractChannelsAndItNamesAFactory) {
  allow_client_broadcasts();
  open(token("authenticated", {"A"}));
  join("realtime:doc:wo:1");
  const auto refused = message(R"(["1","2","realtime:doc:wo:1","broadcast",{"event":"e","payload":{}}])");
  EXPECT_EQ(reason_of(frames(refused).at(0)), "Unauthorized: only service_role may broadcast on doc:wo:1");

  open(token("service_role"));
  join("realtime:doc:wo:1");
  const auto untagged = message(R"(["1","3","realtime:doc:wo:1","broadcast",{"event":"e","payload":{}}])");
  EXPECT_EQ(count<publish_command>(untagged), 0U);  // issue 11, finding 1
  auto tagged = message(R"(["1","4","realtime:doc:wo:1","broadcast",{"event":"e","payload":{"factoryId":"A"}}])");
  auto* cmd = last<publish_command>(tagged);
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->factory_id, "A");
}

TEST_F(SessionLogic, BroadcastsOverTheRateCloseTheChannelUntilTheClientRejoins) {
  allow_client_broadcasts();
  limits_.client_broadcasts.message_burst = 2;
  limits_.client_broadcasts.messages_per_second = 1;
  open(token("authenticated", {"A"}));
  join("realtime:room1", "j1");
  const std::string b = R"(["j1","2","realtime:room1","broadcast",{"event":"e","payload":{}}])";
  EXPECT_EQ(count<publish_command>(message(b)), 1U);
  EXPECT_EQ(count<publish_command>(message(b)), 1U);
  auto over = message(b);
  EXPECT_EQ(count<publish_command>(over), 0U);
  ASSERT_EQ(count<leave_command>(over), 1U);
  const auto f = frames(over);
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].event, "system");
  EXPECT_EQ(f[0].payload.at("message"), "Too many messages per second");
  EXPECT_EQ(f[1].event, "phx_close");
  EXPECT_EQ(metrics_.client_broadcasts_limited_total.Value(), 1);
  // A second later the bucket holds a message again, for a channel joined again.
  join("realtime:room1", "j2", "{}", {"e1", 5}, false, {}, 1s);
  EXPECT_EQ(count<publish_command>(message(b, 1s)), 1U);
}

TEST_F(SessionLogic, ABroadcastLargerThanTheByteBurstIsRefusedAlone) {
  allow_client_broadcasts();
  limits_.client_broadcasts.byte_burst = 16;
  open(token("authenticated", {"A"}));
  join("realtime:room1");
  const auto out =
      message(R"(["1","2","realtime:room1","broadcast",{"event":"e","payload":{"text":"more than sixteen bytes"}}])");
  EXPECT_EQ(count<leave_command>(out), 0U);
  EXPECT_EQ(reason_of(frames(out).at(0)), "Payload size exceeded: a client broadcast holds at most 16 bytes");
}

// ---- access_token ----

TEST_F(SessionLogic, AnAccessTokenThatFailsRevokesItsChannel) {
  open(token("authenticated", {"A"}));
  join("realtime:room1", "j1");
  auto out = message(R"(["j1","2","realtime:room1","access_token",{"access_token":"garbage"}])");
  ASSERT_EQ(count<leave_command>(out), 1U);
  const auto f = frames(out);
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].event, "system");
  EXPECT_EQ(f[0].payload.at("status"), "error");
  EXPECT_EQ(f[1].event, "phx_close");
  EXPECT_EQ(metrics_.auth_refusals_total.Value(), 1);
}

TEST_F(SessionLogic, AnAccessTokenReplacesTheChannelsPrincipalAndTheConnectionsForLaterJoins) {
  open(token("authenticated", {"A"}));
  join("realtime:room1", "j1");
  const auto before = send_join("realtime:list:wo:B", "2");
  EXPECT_EQ(count<subscribe_command>(before), 0U);
  auto out = message(R"(["j1","3","realtime:room1","access_token",{"access_token":")" +
                     token("authenticated", {"A", "B"}) + R"("}])");
  auto* cmd = last<principal_command>(out);
  ASSERT_NE(cmd, nullptr);  // deliveries filter for the new principal (send_queue::set_principal)
  EXPECT_TRUE(cmd->who->scope.contains("B"));
  EXPECT_TRUE(session_->channel("realtime:room1")->who->scope.contains("B"));
  const auto after = send_join("realtime:list:wo:B", "4");  // issue 11, finding 8
  EXPECT_EQ(count<subscribe_command>(after), 1U);
}

TEST_F(SessionLogic, AnAccessTokenThatNoLongerCoversAContractChannelRevokesIt) {
  open(token("authenticated", {"A"}));
  join("realtime:list:wo:A", "j1");
  auto out = message(R"(["j1","2","realtime:list:wo:A","access_token",{"access_token":")" +
                     token("authenticated", {"B"}) + R"("}])");
  ASSERT_EQ(count<leave_command>(out), 1U);
  EXPECT_EQ(frames(out).at(0).payload.at("message"),
            "You no longer have permission to read from this Channel topic: list:wo:A");
}

TEST_F(SessionLogic, AnAccessTokenOfAnotherScopeErrorsADocChannelSoItRejoinsItsNewView) {
  open(token("authenticated", {"A"}));
  join("realtime:doc:wo:1", "j1");
  auto out = message(R"(["j1","2","realtime:doc:wo:1","access_token",{"access_token":")" +
                     token("authenticated", {"A", "B"}) + R"("}])");
  ASSERT_EQ(count<leave_command>(out), 1U);
  const auto f = frames(out);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].event, "phx_error");
  EXPECT_EQ(f[0].ref, "j1");
}

// issue 13: a gap in the source started the channel's view over (hub::reset): the channel errors, so the client
// rejoins with its old position and is answered recovered:false; a second reset of the same (left) channel does
// nothing, and other channels keep their joins.
TEST_F(SessionLogic, AViewStartedOverErrorsItsChannelSoTheClientRejoinsAndRefetches) {
  open(token("authenticated", {"A"}));
  join("realtime:list:wo:A", "j1");
  join("realtime:doc:wo:1", "j2");
  const channel_state* ch = session_->channel("realtime:list:wo:A");
  ASSERT_NE(ch, nullptr);
  session_output out;
  session_->on_channel_reset(*ch, out);  // `out` holds the channel alive through its leave_command
  ASSERT_EQ(count<leave_command>(out), 1U);
  const auto f = frames(out);
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].topic, "realtime:list:wo:A");
  EXPECT_EQ(f[0].event, "phx_error");
  EXPECT_EQ(f[0].ref, "j1");
  EXPECT_EQ(session_->channel("realtime:list:wo:A"), nullptr);
  EXPECT_NE(session_->channel("realtime:doc:wo:1"), nullptr);

  session_output again;
  session_->on_channel_reset(*ch, again);
  EXPECT_TRUE(again.commands.empty());
}

TEST_F(SessionLogic, AnAccessTokenForATopicNotJoinedIsIgnored) {
  open(token("authenticated", {"A"}));
  EXPECT_TRUE(message(R"(["j1","2","realtime:room9","access_token",{"access_token":"garbage"}])").commands.empty());
}

// ---- token expiry ----

TEST_F(SessionLogic, TheExpiryDeadlineIsTheEarliestJoinedTokensExpPlusLeeway) {
  open(token("authenticated", {"A"}, 600s));
  EXPECT_EQ(session_->expiry_at(), session_logic::k_never);  // nothing joined
  join("realtime:room1", "1");
  EXPECT_EQ(session_->expiry_at(), k_steady0 + 630s);
  join("realtime:room2", "2", R"({"access_token":")" + token("authenticated", {"A"}, 100s) + R"("})", {"e1", 1}, false,
       {}, 10s);
  EXPECT_EQ(session_->expiry_at(), k_steady0 + 130s);  // measured from the wall clock: 130 s after k_wall0
}

TEST_F(SessionLogic, ExpiryRevokesOnlyTheExpiredChannelsAndRearmsForTheRest) {
  open(token("authenticated", {"A"}, 600s));
  join("realtime:room1", "j1");
  join("realtime:room2", "j2", R"({"access_token":")" + token("authenticated", {"A"}, 100s) + R"("})");
  session_output out;
  session_->on_expiry_due(at(130s), out);
  EXPECT_TRUE(out.deadline_changed);
  ASSERT_EQ(count<leave_command>(out), 1U);
  const auto f = frames(out);
  ASSERT_EQ(f.size(), 2U);
  EXPECT_EQ(f[0].topic, "realtime:room2");
  EXPECT_EQ(f[0].payload.at("message"), "Token has expired 30 seconds ago");
  EXPECT_EQ(f[1].event, "phx_close");
  EXPECT_EQ(session_->channel_count(), 1U);
  EXPECT_EQ(session_->expiry_at(), k_steady0 + 630s);
}

TEST_F(SessionLogic, AHeartbeatIsAnsweredThenExpiredChannelsAreClosed) {
  open(token("authenticated", {"A"}, 60s));
  join("realtime:room1", "j1");
  const auto early = message(R"([null,"5","phoenix","heartbeat",{}])", 60s);
  ASSERT_EQ(early.commands.size(), 1U);  // within the leeway
  EXPECT_EQ(frames(early)[0].ref, "5");
  const auto late = message(R"([null,"6","phoenix","heartbeat",{}])", 90s);
  const auto f = frames(late);
  ASSERT_EQ(f.size(), 3U);
  EXPECT_EQ(f[0].event, "phx_reply");
  EXPECT_EQ(f[1].event, "system");
  EXPECT_EQ(f[2].event, "phx_close");
}

TEST_F(SessionLogic, ATokenExpiringInCenturiesArmsNoDeadline) {
  open(token("authenticated", {"A"}, std::chrono::seconds{std::int64_t{400} * 365 * 24 * 3600}));
  join("realtime:room1");
  EXPECT_EQ(session_->expiry_at(), session_logic::k_never);
}

TEST_F(SessionLogic, AnAccessTokenPushRearmsTheExpiry) {
  open(token("authenticated", {"A"}, 100s));
  join("realtime:room1", "j1");
  EXPECT_EQ(session_->expiry_at(), k_steady0 + 130s);
  auto out = message(R"(["j1","2","realtime:room1","access_token",{"access_token":")" +
                         token("authenticated", {"A"}, 1000s) + R"("}])",
                     50s);
  EXPECT_TRUE(out.deadline_changed);
  EXPECT_EQ(session_->expiry_at(), k_steady0 + 1030s);
}

// ---- closes ----

TEST_F(SessionLogic, QueueOverflowClosesWith4008AndLeavesEveryChannel) {
  open(token("authenticated", {"A"}, 100s));
  join("realtime:room1", "1");
  join("realtime:room2", "2");
  session_output out;
  session_->on_queue_overflow(out);
  ASSERT_EQ(out.commands.size(), 3U);
  const auto* close = std::get_if<close_command>(&out.commands[0]);
  ASSERT_NE(close, nullptr);  // first: the queue stops before the channels are left
  EXPECT_EQ(close->code, 4008);
  EXPECT_EQ(close->reason, "send queue overflow");
  EXPECT_TRUE(close->overflow);
  EXPECT_EQ(count<leave_command>(out), 2U);
  EXPECT_EQ(session_->channel_count(), 0U);
  EXPECT_EQ(session_->expiry_at(), session_logic::k_never);
}

TEST_F(SessionLogic, ShutdownClosesWith1001) {
  open(token("service_role"));
  join("realtime:room1");
  session_output out;
  session_->on_shutdown(out);
  const auto* close = std::get_if<close_command>(&out.commands.at(0));
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->code, 1001);
  EXPECT_EQ(close->reason, "server shutting down");
  EXPECT_FALSE(close->overflow);
  EXPECT_EQ(count<leave_command>(out), 1U);
}

TEST_F(SessionLogic, ADisconnectedConnectionLeavesEveryChannelAndArmsNothingMore) {
  open(token("authenticated", {"A"}, 100s));
  join("realtime:room1");
  session_output out;
  session_->on_disconnected(out);
  EXPECT_EQ(count<leave_command>(out), 1U);
  EXPECT_EQ(count<close_command>(out), 0U);
  session_output late;
  session_->on_expiry_due(at(200s), late);
  EXPECT_TRUE(late.commands.empty());
  EXPECT_EQ(session_->expiry_at(), session_logic::k_never);
}

// ---- other messages ----

TEST_F(SessionLogic, UndecodableMessagesAreCountedAndIgnored) {
  open(token("service_role"));
  EXPECT_TRUE(message("not json").commands.empty());
  EXPECT_TRUE(message(R"({"topic":"phoenix"})").commands.empty());  // a v1 envelope on a v2 connection
  EXPECT_EQ(metrics_.frames_refused_total.Value(), 2);
}

TEST_F(SessionLogic, PresenceIsRefused) {
  open(token("service_role"));
  join("realtime:room1");
  const auto out = message(R"(["1","2","realtime:room1","presence",{"type":"presence","event":"track"}])");
  EXPECT_EQ(reason_of(frames(out).at(0)), "presence is not supported by rtcache");
}

// ---- deliveries (frames_for) ----

hub::hub_message_ptr message_of(std::string factory, std::uint64_t origin = 0) {
  auto m = std::make_shared<hub::hub_message>();
  m->frames.v1_text = "v1";
  m->frames.v2_text = "v2";
  m->meta.factory_id = std::move(factory);
  m->meta.origin = origin;
  return m;
}

TEST_F(SessionLogic, DeliveriesOfAFactoryOutsideTheScopeBecomeNothing) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1");
  const auto& ch = *last<subscribe_command>(out)->channel;
  frame_set in_scope;
  const auto a = message_of("A");
  session_->frames_for(ch, *ch.who, a, in_scope);
  ASSERT_EQ(in_scope.n, 1U);
  EXPECT_EQ(in_scope.f[0].shared, &a->frames.v2_text);  // shared, not copied
  frame_set outside;
  session_->frames_for(ch, *ch.who, message_of("B"), outside);
  EXPECT_EQ(outside.n, 0U);
  frame_set untagged;  // contract channels carry only tagged messages; an untagged one reaches unscoped only
  session_->frames_for(ch, *ch.who, message_of(""), untagged);
  EXPECT_EQ(untagged.n, 0U);
}

// issue 15: rtcache_fanout_publish_to_write_seconds runs from the hub's publish of the message.
TEST_F(SessionLogic, LiveDeliveriesAreTimedFromTheHubsPublish) {
  open(token("authenticated", {"A"}));
  auto out = send_join("realtime:doc:wo:1");
  const auto& ch = *last<subscribe_command>(out)->channel;
  auto m = std::make_shared<hub::hub_message>();
  m->frames.v2_text = "v2";
  m->meta.factory_id = "A";
  m->published_at = k_steady0 + 42s;
  frame_set fs;
  session_->frames_for(ch, *ch.who, m, fs);
  ASSERT_EQ(fs.n, 1U);
  EXPECT_EQ(fs.f[0].latency, out_frame::timed::delivery);
  EXPECT_EQ(fs.f[0].since, k_steady0 + 42s);
}

TEST_F(SessionLogic, OwnBroadcastsComeBackOnlyWithSelf) {
  open(token("service_role"));
  auto plain = send_join("realtime:room1", "1");
  auto with_self = send_join("realtime:room2", "2", R"({"config":{"broadcast":{"self":true}}})");
  frame_set a;
  session_->frames_for(*last<subscribe_command>(plain)->channel, session_->connection_principal(),
                       message_of("", k_connection), a);
  EXPECT_EQ(a.n, 0U);
  frame_set b;
  session_->frames_for(*last<subscribe_command>(with_self)->channel, session_->connection_principal(),
                       message_of("", k_connection), b);
  EXPECT_EQ(b.n, 1U);
}

TEST_F(SessionLogic, ARawBroadcastReachesAV2ConnectionAsItsBinaryFrame) {
  open(token("service_role"));
  auto out = send_join("realtime:room1");
  auto m = std::make_shared<hub::hub_message>();
  m->frames.v2_binary = "kind4";
  frame_set fs;
  session_->frames_for(*last<subscribe_command>(out)->channel, session_->connection_principal(), m, fs);
  ASSERT_EQ(fs.n, 1U);
  EXPECT_TRUE(fs.f[0].binary);
  EXPECT_EQ(fs.f[0].bytes(), "kind4");
}

TEST_F(SessionLogic, ARecordBecomesAPushWithTheChannelsMatchingBindingIds) {
  open(token("service_role"));
  auto out = send_join("realtime:room1", "1",
                       R"({"config":{"postgres_changes":[{"event":"UPDATE","schema":"public","table":"work_orders"},
                           {"event":"DELETE","schema":"public","table":"work_orders"}]}})");
  const auto& ch = *last<subscribe_command>(out)->channel;
  auto m = std::make_shared<hub::hub_message>();
  m->change =
      testing::routed(*mapping_, testing::wo_change(routing::row_kind::update, "1", "A", "done")).changes.at(0).change;
  frame_set fs;
  session_->frames_for(ch, session_->connection_principal(), m, fs);
  ASSERT_EQ(fs.n, 1U);  // no broadcast frame (none encoded), one push
  const auto push = parse(fs.f[0].owned);
  EXPECT_EQ(push.event, "postgres_changes");
  EXPECT_EQ(json::serialize(push.payload.at("ids")), "[" + std::to_string(ch.bindings[0].id) + "]");
}

}  // namespace
}  // namespace rtcache::gateway
