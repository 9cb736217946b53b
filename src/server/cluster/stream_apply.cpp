// One stream message applied to a node's book and hub.
#include "cluster/stream_apply.hpp"

#include "cluster/gap_index.hpp"
#include "cluster/positions.hpp"
#include "cluster/subject.hpp"
#include "routing/mapping.hpp"

#include <algorithm>
#include <set>
#include <utility>
#include <variant>
#include <vector>

namespace rtcache::cluster {

namespace {

core::error refused(std::string what) {
  return core::error{core::errc::bad_value, std::move(what)};
}

}  // namespace

core::result<parsed_subject> parse_subject(std::string_view prefix, std::string_view subject) {
  const auto bad = [&](std::string_view why) {
    return refused("subject '" + std::string(subject) + "': " + std::string(why));
  };
  if (subject.size() <= prefix.size() + 3 || subject.substr(0, prefix.size()) != prefix ||
      subject[prefix.size()] != '.' || subject[prefix.size() + 2] != '.') {
    return bad("not <prefix>.<c|p|x>.<token>... of stream prefix '" + std::string(prefix) + "'");
  }
  parsed_subject out;
  out.section = subject[prefix.size() + 1];
  const std::string_view rest = subject.substr(prefix.size() + 3);
  std::vector<std::string_view> tokens;
  for (std::size_t at = 0;;) {
    const std::size_t dot = rest.find('.', at);
    tokens.push_back(rest.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at));
    if (dot == std::string_view::npos) break;
    at = dot + 1;
  }
  const std::size_t want = out.section == 'c' ? 2 : 1;
  if (out.section != 'c' && out.section != 'p' && out.section != 'x') return bad("unknown section");
  if (tokens.size() != want) return bad("wrong number of tokens");
  auto first = decode_token(tokens[0]);
  if (!first) return bad("undecodable token");
  out.channel = std::move(*first);
  if (out.section == 'c' && tokens[1] != k_untagged_token) {
    auto factory = decode_token(tokens[1]);
    if (!factory) return bad("undecodable factory token");
    out.factory = std::move(*factory);
  }
  return out;
}

std::optional<hub::hub_position> book_positions::position_of(std::string_view channel,
                                                             const core::factory_scope& view) const {
  std::vector<partition_fact> facts;
  if (const channel_entry* entry = book_.find(channel))
    facts = position_book::held_facts(entry->state, view, first_seq_);
  view_position p = book_.position(channel, facts, view);
  return hub::hub_position{std::move(p.epoch), p.offset};
}

stream_applier::stream_applier(stream_apply_settings settings, epoch_deriver deriver, std::string identity,
                               core::doc_type_registry types, hub::hub& target)
    : settings_(std::move(settings)),
      book_(std::move(deriver), std::move(identity), settings_.max_channels),
      events_(std::move(types)),
      hub_(target) {}

core::result<void> stream_applier::apply(const stream_message& m, std::uint64_t first_seq) {
  ++stats_.applied;
  if (const auto id = m.header_value(msg_id_header); id && replays_.replayed(*id)) {
    ++stats_.replays;
    return core::error{core::errc::duplicate_key, "seq " + std::to_string(m.seq) + ": repeats source message '" +
                                                      std::string(*id) + "' (at or below one applied before)"};
  }
  auto done = [&]() -> core::result<void> {
    auto s = parse_subject(settings_.prefix, m.subject);
    if (!s) return s.error();
    auto body = decode_body(m.data, settings_.limits);
    if (!body) return body.error();
    const char want = std::visit(
        [](const auto& b) -> char {
          using T = std::decay_t<decltype(b)>;
          if constexpr (std::is_same_v<T, channel_message>) return 'c';
          if constexpr (std::is_same_v<T, record_message>) return 'p';
          if constexpr (std::is_same_v<T, ingest_batch>) return 'i';  // belongs to the ingest stream
          return 'x';
        },
        *body);
    if (want != s->section) {
      return refused("body kind does not match subject '" + m.subject + "'");
    }
    if (auto* c = std::get_if<channel_message>(&*body)) {
      auto decoded = decode_channel(m, std::move(*s), std::move(*c));
      if (!decoded) return decoded.error();
      return apply_channel(m, std::move(*decoded), first_seq);
    }
    if (auto* r = std::get_if<record_message>(&*body)) return apply_record(*s, std::move(*r));
    if (const auto* g = std::get_if<gap_message>(&*body)) {
      apply_gap(m.seq, *g, first_seq);
      return {};
    }
    ++stats_.control;
    return {};
  }();
  if (done) return done;
  ++stats_.refused;
  // Every refusal names the message's sequence (what an operator looks up in the stream), never its payload.
  return core::error{done.error().code, "seq " + std::to_string(m.seq) + ": " + done.error().message};
}

core::result<decoded_channel> stream_applier::decode_channel(const stream_message& m, parsed_subject s,
                                                             channel_message body) {
  if (body.channel != s.channel || body.factory != s.factory) {
    return refused("body's channel or factory differs from its subject '" + m.subject + "'");
  }
  const auto header = m.header_value(k_positions_header);
  if (!header) return refused("no " + std::string(k_positions_header) + " header");
  auto pos = decode_position(*header, m.seq);
  if (!pos) return refused(pos.error().message);
  if (pos->factory != s.factory) return refused("position header names another partition than the subject");
  decoded_channel out;
  if (body.contract) {
    auto e = events_.decode(body.payload);
    if (!e) return refused("contract event: " + e.error().message);
    if (e->factory_id != body.factory) return refused("contract event's factory differs from its partition");
    out.contract = std::move(*e);
  }
  if (body.record) {
    auto r = routing::postgres_change::from_json(std::move(*body.record));
    if (!r) return refused("record: " + r.error().message);
    out.change = std::move(*r);
  }
  out.subject = std::move(s);
  out.body = std::move(body);
  out.position = std::move(*pos);
  return out;
}

core::result<decoded_channel> stream_applier::decode_channel(const stream_message& m) {
  auto s = parse_subject(settings_.prefix, m.subject);
  if (!s) return s.error();
  auto body = decode_body(m.data, settings_.limits);
  if (!body) return body.error();
  auto* c = std::get_if<channel_message>(&*body);
  if (c == nullptr || s->section != 'c') return refused("body kind does not match subject '" + m.subject + "'");
  return decode_channel(m, std::move(*s), std::move(*c));
}

hub::hub_publish_options stream_applier::options_of(const decoded_channel& c) const {
  const channel_message& body = c.body;
  hub::hub_publish_options o;
  o.factory_id = body.factory;
  o.origin = (!body.origin_node.empty() && body.origin_node == settings_.node_id) ? body.origin_conn : 0;
  o.contract = c.contract ? &*c.contract : nullptr;
  o.raw_payload = body.raw;
  o.change = c.change;
  o.attachment_bytes = c.change ? c.change->retained_bytes() : 0;
  return o;
}

core::result<void> stream_applier::publish_channel(const decoded_channel& c, const hub::hub_view_positions& positions) {
  const channel_message& body = c.body;
  hub::hub_publish_options o = options_of(c);
  o.positions = &positions;
  try {
    hub_.publish(body.channel, body.event, body.payload, o);
  } catch (const core::error_exception& e) {
    return refused("not framed: " + e.err().message);
  }
  return {};
}

core::result<void> stream_applier::apply_channel(const stream_message& m, decoded_channel c, std::uint64_t first_seq) {
  // Everything decoded: the book first, then the hub at the positions the book now names.
  book_.apply(m.seq, c.subject.channel, c.subject.factory, c.position.state);
  const book_positions positions(book_, first_seq);
  // The encoder may refuse (an unframeable channel or event): that message only; the book holds its position, as
  // every node's does, so the views that did not take it start over at the next message of the partition.
  if (auto published = publish_channel(c, positions); !published) return published.error();
  ++stats_.published;
  return {};
}

core::result<void> stream_applier::apply_record(const parsed_subject& s, record_message body) {
  if (body.channel != s.channel) return refused("record channel differs from its subject");
  auto r = routing::postgres_change::from_json(std::move(body.record));
  if (!r) return refused("record: " + r.error().message);
  hub::hub_publish_options o;
  if (body.factory) o.factory_id = *body.factory;
  o.change = *r;
  o.retain = false;
  try {
    hub_.publish(body.channel, "postgres_changes", {}, o);
  } catch (const core::error_exception& e) {
    return refused("record not framed: " + e.err().message);
  }
  ++stats_.records;
  return {};
}

void stream_applier::apply_gap(std::uint64_t seq, const gap_message& gap, std::uint64_t first_seq) {
  book_.apply_gap(seq, gap);
  const book_positions positions(book_, first_seq);
  hub_.reset_at([&gap](std::string_view channel) { return gap_covers(gap, channel); }, positions);
  ++stats_.gaps;
}

std::size_t stream_applier::reset(std::string identity, std::uint64_t first_seq) {
  // A stream created again is written from the slot's confirmed position on: its messages may repeat ids taken
  // from the old one. A loss leaves the ids: whatever follows it is newer.
  if (identity != book_.identity()) replays_.reset();
  book_.reset(std::move(identity));
  const book_positions positions(book_, first_seq);
  return hub_.reset_at([](std::string_view) { return true; }, positions);
}

core::result<hub::hub_join> stream_applier::join(std::string_view channel, const core::factory_scope& view,
                                                 std::shared_ptr<hub::hub_subscriber> subscriber,
                                                 const std::optional<hub::hub_position>& resume,
                                                 std::uint64_t first_seq) {
  return hub_.subscribe_view_at(channel, view, position_of(channel, view, first_seq), std::move(subscriber), resume);
}

hub::hub_position stream_applier::position_of(std::string_view channel, const core::factory_scope& view,
                                              std::uint64_t first_seq) {
  return *book_positions(book_, first_seq).position_of(channel, view);
}

bool stream_applier::resume_needs_fetch(std::string_view channel, const core::factory_scope& view,
                                        const hub::hub_position& resume, std::uint64_t first_seq) {
  if (hub_.resumable(channel, view, resume)) return false;  // the hub's own history answers
  const hub::hub_position now = position_of(channel, view, first_seq);
  return resume.epoch == now.epoch && resume.offset < now.offset;
}

std::optional<parsed_subject> stream_applier::forgotten_partition(const stream_message& m) {
  if (!book_.remembers_forgotten()) return std::nullopt;  // the common case: nothing forgotten, no parse
  auto s = parse_subject(settings_.prefix, m.subject);
  if (!s || s->section != 'c') return std::nullopt;
  if (book_.find(s->channel) != nullptr || !book_.was_forgotten(s->channel)) return std::nullopt;
  return std::move(*s);
}

std::vector<std::string> stream_applier::view_subjects(std::string_view channel,
                                                       const core::factory_scope& view) const {
  const subjects names{settings_.prefix};
  if (view.is_unscoped()) return {names.channel_wildcard(channel)};
  std::vector<std::string> out;
  for (const auto& factory : view.factory_ids()) out.push_back(names.partition(channel, factory));
  return out;
}

namespace {

// Takes the messages of a view's history at the positions the resume walk derived, for that view only: every other
// view of the channel is named no position, so it does not take them (hub_view_positions).
class replay_positions final : public hub::hub_view_positions {
 public:
  replay_positions(const core::factory_scope& view, const hub::hub_position& at) : view_(view), at_(at) {}
  std::optional<hub::hub_position> position_of(std::string_view, const core::factory_scope& view) const override {
    if (view_class_text(view) != view_class_text(view_)) return std::nullopt;
    return at_;
  }

 private:
  const core::factory_scope& view_;
  const hub::hub_position& at_;
};

// Holds a view open while its history is given to it, before the client's join: delivers nowhere.
class placeholder final : public hub::hub_subscriber {
 public:
  void deliver(const hub::hub_message_ptr&) noexcept override {}
};

}  // namespace

std::optional<core::result<hub::hub_join>> stream_applier::join_replayed(
    std::string_view channel, const core::factory_scope& view, std::shared_ptr<hub::hub_subscriber> subscriber,
    const hub::hub_position& resume, std::uint64_t first_seq, std::span<const stream_message> fetched,
    std::uint64_t from_seq, replay_outcome& outcome) {
  outcome = replay_outcome::not_joinable;
  if (!resume_needs_fetch(channel, view, resume, first_seq)) return std::nullopt;
  outcome = replay_outcome::not_passed;
  const hub::hub_position now = position_of(channel, view, first_seq);

  // The view's messages as apply() takes them (refused ones skipped, as apply() skips them).
  struct taken {
    std::uint64_t seq;
    decoded_channel message;
  };
  std::vector<const stream_message*> ordered;
  ordered.reserve(fetched.size());
  for (const auto& m : fetched) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](const stream_message* x, const stream_message* y) { return x->seq < y->seq; });
  std::vector<taken> messages;
  replay_filter replays;  // a repeated source message the fetch holds with its first: dropped, as apply() drops it
  for (const stream_message* m : ordered) {
    if (const auto id = m->header_value(msg_id_header); id && replays.replayed(*id)) continue;
    auto d = decode_channel(*m);
    if (!d || d->subject.channel != channel || !view_admits(view, d->subject.factory)) continue;
    messages.push_back({m->seq, std::move(*d)});
  }

  // The partitions' states before the first message: the book's for a partition without a fetched message (it
  // did not change since), otherwise what its first fetched message implies.
  channel_state state;
  if (const channel_entry* entry = book_.find(channel)) state = entry->state;
  std::size_t known_from = 0;  // positions before the message at this index are unknown
  std::set<std::string> seen;  // partitions whose first fetched message was looked at
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const message_position& p = messages[i].message.position;
    if (!seen.insert(p.factory).second) continue;
    if (p.state.counter > 1 && from_seq > 1) {
      // Its predecessor is older than from_seq: live if from_seq - 1 is in the stream (a fetch that starts after the
      // stream's first sequence), in limbo otherwise.
      state.put(p.factory, partition_state{p.state.generation, p.state.counter - 1, from_seq - 1});
    } else if (p.state.counter == 1 && p.state.generation == 0) {
      state.erase(p.factory);  // its first incarnation's first message: it never started before
    } else {
      known_from = i + 1;  // it started a generation (what came before is not known here), or it cannot be
    }
  }

  // A partition without a fetched message is unchanged since before the fetch only if its latest message is older
  // than the fetch's start; otherwise the fetch lacks its messages.
  for (const auto& p : state.partitions) {
    if (view_admits(view, p.factory) && !seen.contains(p.factory) && p.state.last >= from_seq) return std::nullopt;
  }

  // The positions the view passed through: before the first message (index 0) and after each.
  const auto position_now = [&] {
    const auto facts = position_book::held_facts(state, view, first_seq);
    view_position p = book_.position(channel, facts, view);
    return hub::hub_position{std::move(p.epoch), p.offset};
  };
  std::vector<hub::hub_position> passed;
  passed.reserve(messages.size() + 1);
  passed.push_back(position_now());
  for (const auto& t : messages) {
    state.put(t.message.subject.factory, t.message.position.state);
    passed.push_back(position_now());
  }
  // The fetch must end where the book is: each admitted partition at the state the book holds (its latest message
  // fetched, or older than the fetch). A message missing in the middle of a partition then shows as a skipped
  // offset at the partition's next one.
  channel_state held;
  if (const channel_entry* entry = book_.find(channel)) held = entry->state;
  const auto same_admitted = [&view](const channel_state& x, const channel_state& y) {
    for (const auto& p : x.partitions) {
      if (!view_admits(view, p.factory)) continue;
      const partition_state* other = y.find(p.factory);
      if (other == nullptr || !(*other == p.state)) return false;
    }
    return true;
  };
  if (!same_admitted(state, held) || !same_admitted(held, state)) return std::nullopt;
  if (passed.back() != now) return std::nullopt;

  // The resume position, then one offset at a time in its epoch to the current one.
  std::size_t at = passed.size();
  for (std::size_t i = passed.size(); i-- > known_from;) {
    if (passed[i] == resume) {
      at = i;
      break;
    }
  }
  if (at == passed.size()) return std::nullopt;
  for (std::size_t i = at + 1; i < passed.size(); ++i) {
    if (passed[i].epoch != resume.epoch || passed[i].offset != resume.offset + (i - at)) return std::nullopt;
  }
  // A gap marker covering the channel after the resume point started its views over: never continuity.
  if (messages[at].seq <= book_.gap_covering(channel)) return std::nullopt;

  outcome = replay_outcome::not_joinable;
  if (hub_.position(channel, view)) {
    // The view exists, its history short of the position: the replay is encoded as the hub would encode it, and the
    // client joins the view at its current position (which the applier keeps at the book's) with it.
    std::vector<hub::hub_message_ptr> replay;
    replay.reserve(passed.size() - at - 1);
    try {
      for (std::size_t i = at + 1; i < passed.size(); ++i) {
        const decoded_channel& c = messages[i - 1].message;
        replay.push_back(hub_.encode(channel, passed[i].offset, c.body.event, c.body.payload, options_of(c)));
      }
    } catch (const core::error_exception&) {
      return std::nullopt;  // not framed: the caller's plain join
    }
    auto joined = hub_.subscribe_view_at(channel, view, now, std::move(subscriber));
    if (joined && joined->position == now) {
      joined->recovered = true;
      joined->replay = std::move(replay);
      outcome = replay_outcome::recovered;
    } else if (joined) {
      outcome = replay_outcome::not_kept;
    }
    return joined;
  }
  // The view at the resume position, its history the messages after it, then the client's join (later joins with
  // a position in that history are answered by the hub).
  hub::hub_subscription holder;
  {
    auto opened = hub_.subscribe_view_at(channel, view, resume, std::make_shared<placeholder>());
    if (!opened) return core::result<hub::hub_join>(opened.error());
    holder = std::move(opened->subscription);
  }
  for (std::size_t i = at + 1; i < passed.size(); ++i) {
    const replay_positions positions(view, passed[i]);
    if (!publish_channel(messages[i - 1].message, positions)) break;  // the join below then starts the view over
  }
  auto joined = hub_.subscribe_view_at(channel, view, now, std::move(subscriber), resume);
  holder.unsubscribe();
  if (joined) outcome = joined->recovered ? replay_outcome::recovered : replay_outcome::not_kept;
  return joined;
}

}  // namespace rtcache::cluster
