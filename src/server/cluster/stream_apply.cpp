// One stream message applied to a node's book and hub.
#include "cluster/stream_apply.hpp"

#include "cluster/gap_index.hpp"
#include "cluster/positions.hpp"
#include "cluster/subject.hpp"
#include "routing/mapping.hpp"

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
    if (auto* c = std::get_if<channel_message>(&*body)) return apply_channel(m, *s, std::move(*c), first_seq);
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

core::result<void> stream_applier::apply_channel(const stream_message& m, const parsed_subject& s, channel_message body,
                                                 std::uint64_t first_seq) {
  if (body.channel != s.channel || body.factory != s.factory) {
    return refused("body's channel or factory differs from its subject '" + m.subject + "'");
  }
  const auto header = m.header_value(k_positions_header);
  if (!header) return refused("no " + std::string(k_positions_header) + " header");
  auto pos = decode_position(*header, m.seq);
  if (!pos) return refused(pos.error().message);
  if (pos->factory != s.factory) return refused("position header names another partition than the subject");
  std::optional<core::event> contract;
  if (body.contract) {
    auto e = events_.decode(body.payload);
    if (!e) return refused("contract event: " + e.error().message);
    if (e->factory_id != body.factory) return refused("contract event's factory differs from its partition");
    contract = std::move(*e);
  }
  routing::postgres_change_ptr change;
  if (body.record) {
    auto r = routing::postgres_change::from_json(std::move(*body.record));
    if (!r) return refused("record: " + r.error().message);
    change = std::move(*r);
  }
  // Everything decoded: the book first, then the hub at the positions the book now names.
  book_.apply(m.seq, s.channel, s.factory, pos->state);
  const book_positions positions(book_, first_seq);
  hub::hub_publish_options o;
  o.factory_id = body.factory;
  o.origin = (!body.origin_node.empty() && body.origin_node == settings_.node_id) ? body.origin_conn : 0;
  o.contract = contract ? &*contract : nullptr;
  o.raw_payload = body.raw;
  o.change = change;
  o.attachment_bytes = change ? change->retained_bytes() : 0;
  o.positions = &positions;
  try {
    hub_.publish(body.channel, body.event, body.payload, o);
  } catch (const core::error_exception& e) {
    // The encoder refused (an unframeable channel or event): that message only; the book holds its position, as
    // every node's does, so the views that did not take it start over at the next message of the partition.
    return refused("not framed: " + e.err().message);
  }
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

}  // namespace rtcache::cluster
