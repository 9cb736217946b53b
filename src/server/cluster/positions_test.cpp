// Counter assignment, the position header, view offsets, epochs and a node's position book.
#include "cluster/positions.hpp"

#include "cluster/position_book.hpp"
#include "cluster/view_position.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <stdexcept>

namespace rtcache::cluster {
namespace {

using core::factory_scope;

const std::string k_secret = "0123456789abcdef0123456789abcdef";

channel_state state_of(std::uint64_t generation, std::initializer_list<partition_counter> parts) {
  channel_state s;
  s.generation = generation;
  s.partitions.assign(parts.begin(), parts.end());
  return s;
}

TEST(Positions, NextStateCountsPerPartitionAndKeepsThemSorted) {
  channel_state s = fresh_state(0);
  s = next_state(s, "F2", 10);
  s = next_state(s, "F1", 11);
  s = next_state(s, "F2", 12);
  s = next_state(s, "", 13);
  EXPECT_EQ(s, state_of(0, {{"", 1}, {"F1", 1}, {"F2", 2}}));
}

TEST(Positions, APartitionBeyondTheBoundStartsANewGenerationHoldingItAlone) {
  channel_state s = fresh_state(0);
  for (std::size_t i = 0; i < k_max_partitions; ++i) s = next_state(s, "F" + std::to_string(1000 + i), 5 + i);
  ASSERT_EQ(s.partitions.size(), k_max_partitions);
  EXPECT_EQ(s.generation, 0u);
  s = next_state(s, "F1000", 500);  // an existing one still counts
  EXPECT_EQ(s.counter("F1000"), 2u);
  s = next_state(s, "Fnew", 501);
  EXPECT_EQ(s, state_of(501, {{"Fnew", 1}}));
}

TEST(Positions, ACounterAtItsBoundStartsANewGeneration) {
  channel_state s = state_of(7, {{"F1", k_max_counter}, {"F2", 3}});
  EXPECT_EQ(next_state(s, "F2", 90), state_of(7, {{"F1", k_max_counter}, {"F2", 4}}));
  EXPECT_EQ(next_state(s, "F1", 91), state_of(91, {{"F1", 1}}));
}

TEST(Positions, HeaderRoundTrips) {
  message_positions p{state_of(12345, {{"", 4}, {"F.1", 9}, {"f-2_x", 1}}), "F.1"};
  const std::string h = encode_positions(p);
  EXPECT_EQ(h, "12345/F%2E1/~=4,F%2E1=9,f-2_x=1");
  auto back = decode_positions(h);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->state, p.state);
  EXPECT_EQ(back->factory, p.factory);
  message_positions untagged{state_of(0, {{"", 1}}), ""};
  EXPECT_EQ(encode_positions(untagged), "0/~/~=1");
  EXPECT_EQ(decode_positions("0/~/~=1")->state, untagged.state);
}

TEST(Positions, MalformedHeadersAreRefusedWithAReason) {
  const char* bad[] = {
      "",                              // nothing
      "0/F1",                          // no partitions field
      "0/F1/",                         // no partitions
      "x/F1/F1=1",                     // generation not a number
      "01/F1/F1=1",                    // leading zero
      "-1/F1/F1=1",                    // negative
      "0/F1/F1=0",                     // counter 0
      "0/F1/F1=9007199254740992",      // counter past 2^53 - 1
      "0/F1/F2=1",                     // own partition not listed
      "0/F1/F2=1,F1=1",                // not sorted
      "0/F1/F1=1,F1=2",                // duplicate
      "0/F1/F1=1,",                    // trailing comma
      "0/F1/F1",                       // no '='
      "0/%/F1=1",                      // "%" is the empty string, not a factory
      "0/F%2e1/F%2e1=1",               // lower-case escape: not the one spelling
      "0/F%41/F%41=1",                 // an escaped plain byte
      "0/F1/F1=1/x",                   // '/' inside a counter
      "18446744073709551616/F1/F1=1",  // generation past 2^64
  };
  for (const char* h : bad) {
    auto r = decode_positions(h);
    EXPECT_FALSE(r) << "accepted: " << h;
    if (!r) {
      EXPECT_NE(r.error().message.find("Rtcache-Pos"), std::string::npos) << r.error().message;
    }
  }
}

TEST(Positions, HeadersAreBoundedByThePartitionCount) {
  std::string h = "0/F0/";
  std::vector<std::string> names;
  for (std::size_t i = 0; i <= k_max_partitions; ++i) names.push_back("F" + std::to_string(i));
  std::sort(names.begin(), names.end());
  for (std::size_t i = 0; i < names.size(); ++i) h += (i ? "," : "") + names[i] + "=1";
  auto r = decode_positions(h);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::errc::too_many);
  EXPECT_FALSE(decode_positions(std::string(100000, '1')));
}

TEST(ViewPosition, OffsetSumsTheCountersOfTheViewsPartitions) {
  const channel_state s = state_of(0, {{"", 2}, {"F1", 5}, {"F2", 7}});
  EXPECT_EQ(view_offset(s, factory_scope::unscoped()), 14u);
  EXPECT_EQ(view_offset(s, factory_scope::of({"F1"})), 5u);
  EXPECT_EQ(view_offset(s, factory_scope::of({"F1", "F2"})), 12u);
  EXPECT_EQ(view_offset(s, factory_scope::of({"F3"})), 0u);
  EXPECT_EQ(view_offset(s, factory_scope::of(std::vector<std::string>{})), 0u);
}

TEST(ViewPosition, EpochsAre128BitHexAndDifferPerChannelViewGenerationGapIdentityAndSecret) {
  const epoch_deriver d(k_secret);
  const epoch_basis b{"rtcache@1", "doc:wo:1", 0, 0};
  const std::string e = d.epoch(b, factory_scope::of({"F1"}));
  ASSERT_EQ(e.size(), 32u);
  EXPECT_EQ(e.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(e, epoch_deriver(k_secret).epoch(b, factory_scope::of({"F1"})));  // derived, not drawn
  std::set<std::string> all{e};
  all.insert(d.epoch({"rtcache@1", "doc:wo:2", 0, 0}, factory_scope::of({"F1"})));
  all.insert(d.epoch(b, factory_scope::of({"F2"})));
  all.insert(d.epoch(b, factory_scope::of({"F1", "F2"})));
  all.insert(d.epoch(b, factory_scope::unscoped()));
  all.insert(d.epoch({"rtcache@1", "doc:wo:1", 17, 0}, factory_scope::of({"F1"})));
  all.insert(d.epoch({"rtcache@1", "doc:wo:1", 0, 17}, factory_scope::of({"F1"})));
  all.insert(d.epoch({"rtcache@2", "doc:wo:1", 0, 0}, factory_scope::of({"F1"})));
  all.insert(epoch_deriver(k_secret + "x").epoch(b, factory_scope::of({"F1"})));
  all.insert(d.unknown_epoch(b, factory_scope::of({"F1"}), "limbo:0"));
  EXPECT_EQ(all.size(), 10u);
}

// issue 11: epochs must be unguessable; under an empty or short key anyone could compute them. The assert that
// stood here vanished from release builds, which then derived epochs under an empty key.
TEST(ViewPosition, ASecretShorterThan32BytesIsRefused) {
  EXPECT_THROW(epoch_deriver(""), std::invalid_argument);
  EXPECT_THROW(epoch_deriver(std::string(k_min_secret_bytes - 1, 'k')), std::invalid_argument);
  EXPECT_NO_THROW(epoch_deriver(std::string(k_min_secret_bytes, 'k')));
}

// issue 11: a foreign factory's messages on a shared doc channel change nothing a single-factory view shows.
TEST(ViewPosition, AForeignFactorysMessagesChangeNoOffsetOrEpochOfASingleFactoryView) {
  position_book book(epoch_deriver(k_secret), "rtcache@1", 100);
  const auto f1 = factory_scope::of({"F1"});
  channel_state s = fresh_state(0);
  std::uint64_t seq = 0;
  s = next_state(s, "F1", ++seq);
  const view_position before = book.position("doc:wo:1", s, f1);
  for (int i = 0; i < 50; ++i) s = next_state(s, "F9", ++seq);  // the foreign partition is born and grows
  EXPECT_EQ(book.position("doc:wo:1", s, f1), before);
  EXPECT_NE(book.position("doc:wo:1", s, factory_scope::unscoped()).offset, before.offset);
}

// A join before a channel's first message and the first message itself are one epoch: a birth is no reset.
TEST(ViewPosition, TheFirstMessageOfAChannelKeepsTheEpochOfItsEmptyState) {
  position_book book(epoch_deriver(k_secret), "rtcache@1", 100);
  for (const auto& view : {factory_scope::unscoped(), factory_scope::of({"F1"})}) {
    const auto empty = book.position("list:wo:F1", fresh_state(0), view);
    EXPECT_EQ(empty.offset, 0u);
    const auto first = book.position("list:wo:F1", next_state(fresh_state(0), "F1", 1), view);
    EXPECT_EQ(first.epoch, empty.epoch);
    EXPECT_EQ(first.offset, 1u);
  }
}

TEST(PositionBook, AGapChangesTheEpochOfTheChannelsItCoversOnly) {
  position_book book(epoch_deriver(k_secret), "rtcache@1", 100);
  const auto s = next_state(fresh_state(0), "F1", 1);
  const auto u = factory_scope::unscoped();
  const auto doc = book.position("doc:wo:1", s, u);
  const auto other = book.position("doc:po:1", s, u);
  const auto room = book.position("room1", s, u);
  book.apply_gap(5, gap_message{"truncate", {{"public", "work_orders", "wo"}}, ""});
  EXPECT_NE(book.position("doc:wo:1", s, u).epoch, doc.epoch);
  EXPECT_EQ(book.position("doc:wo:1", s, u).offset, doc.offset);
  EXPECT_EQ(book.position("doc:po:1", s, u), other);
  book.apply_gap(6, gap_message{"slot_created", {}, ""});
  EXPECT_NE(book.position("doc:po:1", s, u), other);
  EXPECT_EQ(book.position("room1", s, u), room);  // never fed by the WAL
}

// issue 13: a TRUNCATE starts over every factory summary on every node, as it does on a single node.
TEST(PositionBook, ATruncateChangesTheEpochOfEveryFactorySummary) {
  position_book book(epoch_deriver(k_secret), "rtcache@1", 100);
  const auto s = next_state(fresh_state(0), "F1", 1);
  const auto f1 = factory_scope::of({"F1"});
  const auto summary = book.position("factory:F1", s, f1);
  book.apply_gap(5, gap_message{"truncate", {{"public", "work_orders", "wo"}}, ""});
  EXPECT_NE(book.position("factory:F1", s, f1).epoch, summary.epoch);
  EXPECT_EQ(book.position("factory:F1", s, f1).offset, summary.offset);
}

// --- A model of the whole position scheme: a writer that forgets, two nodes fed independently, and clients that
// resume anywhere. Every recovery must replay exactly what the client missed.

struct model_message {
  std::uint64_t seq;
  std::string channel;
  std::string factory;
  std::optional<channel_state> state;  // nullopt: a gap marker
  std::optional<gap_message> gap;
};

struct model_writer {
  // What the writer remembers (bounded: it forgets at random), the ledger of births, the retained stream.
  std::map<std::string, channel_state> table;
  std::map<std::string, std::uint64_t> ledger;  // channel -> latest generation started
  std::vector<model_message> stream;
  std::size_t first_retained = 0;  // index into stream of the oldest retained message

  const model_message* last_retained_of(const std::string& channel) const {
    for (std::size_t i = stream.size(); i-- > first_retained;) {
      if (stream[i].state && stream[i].channel == channel) return &stream[i];
    }
    return nullptr;
  }

  void publish(const std::string& channel, const std::string& factory) {
    const std::uint64_t seq = stream.size() + 1;
    auto it = table.find(channel);
    channel_state base;
    if (it != table.end()) {
      base = it->second;
    } else if (const model_message* last = last_retained_of(channel)) {
      base = *last->state;  // continue where the stream says it stands
    } else if (auto l = ledger.find(channel); l == ledger.end()) {
      ledger[channel] = 0;  // provably the first incarnation
      base = fresh_state(0);
    } else {
      l->second = seq;  // an earlier incarnation existed: a generation nobody used
      base = fresh_state(seq);
    }
    channel_state next = next_state(base, factory, seq);
    table[channel] = next;
    stream.push_back({seq, channel, factory, next, std::nullopt});
  }

  void gap(const gap_message& g) { stream.push_back({stream.size() + 1, "", "", std::nullopt, g}); }
};

// A node: applies every message in order to its book; `history` is what it retained per (channel, view class).
struct model_node {
  position_book book;
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<view_position, std::uint64_t>>> history;

  explicit model_node(std::size_t max_channels) : book(epoch_deriver(k_secret), "s@1", max_channels) {}

  void apply(const model_message& m, const std::vector<factory_scope>& views) {
    if (m.gap) {
      book.apply_gap(m.seq, *m.gap);
      return;
    }
    book.apply(m.seq, m.channel, *m.state);
    for (const auto& v : views) {
      if (!view_admits(v, m.factory)) continue;
      history[{m.channel, view_class_text(v)}].push_back({book.position(m.channel, *m.state, v), m.seq});
    }
  }

  // The position a node gives `view` of `channel` now: from its table, else from the writer's retained stream
  // (a lookup), else the ledger (never started: the empty state; otherwise limbo).
  view_position current(const model_writer& w, const std::string& channel, const factory_scope& view) {
    if (const channel_entry* e = book.find(channel)) return book.position(channel, e->state, view);
    if (const model_message* last = w.last_retained_of(channel)) {
      book.learn(channel, channel_entry{*last->state, last->seq});
      return book.position(channel, *last->state, view);
    }
    auto l = w.ledger.find(channel);
    if (l == w.ledger.end()) return book.position(channel, fresh_state(0), view);
    return book.unknown_position(channel, view, "limbo:" + std::to_string(l->second));
  }
};

TEST(PositionModel, NoResumeIsEverRecoveredWithAReplayOtherThanWhatTheClientMissed) {
  std::mt19937_64 rng(20251119);
  const std::vector<std::string> channels = {"doc:wo:1", "doc:wo:2", "list:wo:F1", "factory:F1", "room"};
  const std::vector<std::string> factories = {"F1", "F2", "F3"};
  const std::vector<factory_scope> views = {factory_scope::unscoped(), factory_scope::of({"F1"}),
                                            factory_scope::of({"F1", "F2"})};
  std::size_t recovered = 0;
  std::size_t refused = 0;
  for (int round = 0; round < 40; ++round) {
    model_writer w;
    model_node a(1000);
    model_node b(1 + static_cast<std::size_t>(round % 3));  // forgets almost everything: lives on lookups
    struct client {
      std::string channel;
      factory_scope view;
      view_position pos;
      std::size_t at;  // stream size when the position was taken
    };
    std::vector<client> clients;
    std::size_t applied_a = 0;
    std::size_t applied_b = 0;
    for (int step = 0; step < 400; ++step) {
      const auto r = rng() % 100;
      if (r < 70) {
        const std::string& ch = channels[rng() % channels.size()];
        const std::string f = ch == "room"                               ? ""
                              : ch == "list:wo:F1" || ch == "factory:F1" ? "F1"
                                                                         : factories[rng() % factories.size()];
        w.publish(ch, f);
      } else if (r < 74) {
        w.table.erase(channels[rng() % channels.size()]);  // the writer forgets
      } else if (r < 77) {
        w.first_retained = std::min(w.stream.size(), w.first_retained + 1 + rng() % 6);  // retention
      } else if (r < 79) {
        w.gap(rng() % 2 ? gap_message{"slot_created", {}, ""} : gap_message{"truncate", {{"public", "wo", "wo"}}, ""});
      } else {
        const std::string& ch = channels[rng() % channels.size()];
        const auto& v = views[rng() % views.size()];
        clients.push_back({ch, v, a.current(w, ch, v), w.stream.size()});
      }
      // Both nodes apply what is new.
      for (; applied_a < w.stream.size(); ++applied_a) a.apply(w.stream[applied_a], views);
      for (; applied_b < w.stream.size(); ++applied_b) b.apply(w.stream[applied_b], views);

      // Every client resumes on node b: recovered iff same epoch and b can show offsets (o, now] in that epoch
      // from what the stream retains (b's own history counts too: it applied everything).
      for (const auto& c : clients) {
        const bool b_knows = b.book.find(c.channel) != nullptr || w.last_retained_of(c.channel) != nullptr ||
                             !w.ledger.contains(c.channel);
        const view_position now = b.current(w, c.channel, c.view);
        // Equal on both nodes whenever b can know the state (it holds it, or the stream still does); otherwise b
        // answers "unknown", which recovers nothing.
        if (b_knows) {
          ASSERT_EQ(now, a.current(w, c.channel, c.view)) << "nodes disagree on " << c.channel;
        }
        if (c.pos.epoch != now.epoch || c.pos.offset > now.offset) {
          ++refused;
          continue;
        }
        // The replay: b's retained history of the view, offsets after the client's, all in the current epoch.
        std::vector<std::uint64_t> replay;
        bool complete = true;
        std::uint64_t want = c.pos.offset + 1;
        for (const auto& [p, seq] : b.history[{c.channel, view_class_text(c.view)}]) {
          if (p.epoch != now.epoch || p.offset < want) continue;
          if (p.offset != want) {
            complete = false;
            break;
          }
          replay.push_back(seq);
          ++want;
        }
        if (want != now.offset + 1) complete = false;
        if (!complete) {
          ++refused;
          continue;
        }
        // The truth: every message of the view after the client's position; and no gap covering the channel
        // since (a gap stands for changes nobody saw, so nothing spanning one is continuity).
        std::vector<std::uint64_t> truth;
        for (std::size_t i = c.at; i < w.stream.size(); ++i) {
          const auto& m = w.stream[i];
          if (m.state && m.channel == c.channel && view_admits(c.view, m.factory)) truth.push_back(m.seq);
          ASSERT_FALSE(m.gap && gap_covers(*m.gap, c.channel))
              << "recovered across a gap on " << c.channel << " from offset " << c.pos.offset;
        }
        ASSERT_EQ(replay, truth) << "false recovery on " << c.channel << " view " << view_class_text(c.view)
                                 << " from offset " << c.pos.offset;
        ++recovered;
      }
      if (clients.size() > 30) clients.erase(clients.begin());
    }
  }
  // The model must exercise both outcomes, or it proves nothing.
  EXPECT_GT(recovered, 1000u);
  EXPECT_GT(refused, 1000u);
}

}  // namespace
}  // namespace rtcache::cluster
