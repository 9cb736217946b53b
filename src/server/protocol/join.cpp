// phx_join payloads parsed into join_request values, binding ids, and the join reply that echoes the
// client's postgres_changes bindings exactly as realtime-js compares them.
#include "protocol/join.hpp"

#include "protocol/text.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace rtcache::protocol {
namespace {

using core::errc;
using core::error;

constexpr std::size_t k_max_topic_bytes = 255;
constexpr std::size_t k_max_epoch_bytes = 64;
constexpr std::uint64_t k_max_safe_integer = (std::uint64_t{1} << 53) - 1;  // Number.MAX_SAFE_INTEGER
constexpr std::int64_t k_id_modulus = 2147483647;                           // ids are 1 .. 2^31-1

core::error fail(core::errc code, std::string path, std::string_view what) {
  return core::error{code, std::move(path) + ": " + std::string(what)};
}

// The member `key` of `o`, with null treated as absent.
const boost::json::value* member(const boost::json::object& o, std::string_view key) noexcept {
  const boost::json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

core::result<bool> read_bool(const boost::json::object& o, std::string_view key, const std::string& path,
                             bool fallback) {
  const boost::json::value* v = member(o, key);
  if (v == nullptr) return fallback;
  if (!v->is_bool()) return fail(core::errc::wrong_type, path + "." + std::string(key), "must be a boolean");
  return v->get_bool();
}

core::result<const boost::json::object*> read_object(const boost::json::object& o, std::string_view key,
                                                     const std::string& path) {
  const boost::json::value* v = member(o, key);
  if (v == nullptr) return static_cast<const boost::json::object*>(nullptr);
  if (!v->is_object()) return fail(core::errc::wrong_type, path + std::string(key), "must be an object");
  return &v->get_object();
}

// A non-negative integer that a JavaScript number holds exactly.
core::result<std::uint64_t> read_count(const boost::json::value& v, const std::string& path) {
  if (v.is_int64()) {
    if (v.get_int64() < 0) return fail(core::errc::bad_value, path, "must not be negative");
    if (static_cast<std::uint64_t>(v.get_int64()) > k_max_safe_integer) {
      return fail(core::errc::bad_value, path, "is above 2^53-1");
    }
    return static_cast<std::uint64_t>(v.get_int64());
  }
  if (v.is_uint64()) {
    if (v.get_uint64() > k_max_safe_integer) return fail(core::errc::bad_value, path, "is above 2^53-1");
    return v.get_uint64();
  }
  if (v.is_double()) return fail(core::errc::bad_value, path, "must be an integer");
  return fail(core::errc::wrong_type, path, "must be a number");
}

core::result<broadcast_config> read_broadcast(const boost::json::object& config) {
  broadcast_config b;
  auto obj = read_object(config, "broadcast", "config.");
  if (!obj) return obj.error();
  if (*obj == nullptr) return b;
  const boost::json::object& o = **obj;
  auto ack = read_bool(o, "ack", "config.broadcast", false);
  if (!ack) return ack.error();
  b.ack = *ack;
  auto self = read_bool(o, "self", "config.broadcast", false);
  if (!self) return self.error();
  b.self = *self;
  auto replay = read_object(o, "replay", "config.broadcast.");
  if (!replay) return replay.error();
  if (*replay != nullptr) {
    broadcast_replay r;
    for (const auto& [key, slot] : {std::pair{"since", &r.since}, std::pair{"limit", &r.limit}}) {
      const boost::json::value* v = member(**replay, key);
      if (v == nullptr) continue;
      auto n = read_count(*v, std::string("config.broadcast.replay.") + key);
      if (!n) return n.error();
      *slot = static_cast<std::int64_t>(*n);
    }
    b.replay = r;
  }
  return b;
}

core::result<presence_config> read_presence(const boost::json::object& config, const join_limits& limits) {
  presence_config p;
  auto obj = read_object(config, "presence", "config.");
  if (!obj) return obj.error();
  if (*obj == nullptr) return p;
  const boost::json::value* key = member(**obj, "key");
  if (key != nullptr) {
    if (!key->is_string()) return fail(core::errc::wrong_type, "config.presence.key", "must be a string");
    if (key->get_string().size() > limits.max_presence_key_bytes) {
      return fail(core::errc::too_long, "config.presence.key",
                  "is over the bound of " + std::to_string(limits.max_presence_key_bytes) + " bytes");
    }
    p.key = std::string(key->get_string());
  }
  auto enabled = read_bool(**obj, "enabled", "config.presence", false);
  if (!enabled) return enabled.error();
  p.enabled = *enabled;
  return p;
}

// An optional identifier-like string field of a binding (schema, table).
core::result<std::optional<std::string>> read_name(const boost::json::object& o, std::string_view key,
                                                   const std::string& path, const join_limits& limits) {
  const boost::json::value* v = member(o, key);
  if (v == nullptr) return std::optional<std::string>{};
  const std::string where = path + "." + std::string(key);
  if (!v->is_string()) return fail(core::errc::wrong_type, where, "must be a string");
  const auto& s = v->get_string();
  if (s.empty()) return fail(core::errc::empty_segment, where, "is empty");
  if (s.size() > limits.max_name_bytes) {
    return fail(core::errc::too_long, where,
                "is over the bound of " + std::to_string(limits.max_name_bytes) + " bytes");
  }
  return std::optional<std::string>{std::string(s)};
}

core::result<postgres_binding> read_binding(const boost::json::value& v, const std::string& path,
                                            const join_limits& limits) {
  if (!v.is_object()) return fail(core::errc::not_object, path, "must be an object {event, schema, table?, filter?}");
  const boost::json::object& o = v.get_object();
  postgres_binding b;

  const boost::json::value* event = member(o, "event");
  if (event == nullptr) return fail(core::errc::missing_field, path + ".event", "is required");
  if (!event->is_string()) return fail(core::errc::wrong_type, path + ".event", "must be a string");
  b.event_text = std::string(event->get_string());
  std::string lower = b.event_text;
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (lower == "*") {
    b.event = change_event::all;
  } else if (lower == "insert") {
    b.event = change_event::insert;
  } else if (lower == "update") {
    b.event = change_event::update;
  } else if (lower == "delete") {
    b.event = change_event::delete_;
  } else {
    return fail(core::errc::bad_value, path + ".event",
                "'" + b.event_text.substr(0, 32) + "' is not one of *, INSERT, UPDATE, DELETE");
  }

  auto schema = read_name(o, "schema", path, limits);
  if (!schema) return schema.error();
  if (!*schema) return fail(core::errc::missing_field, path + ".schema", "is required");
  b.schema = std::move(**schema);
  auto table = read_name(o, "table", path, limits);
  if (!table) return table.error();
  b.table = std::move(*table);

  const boost::json::value* filter = member(o, "filter");
  if (filter != nullptr) {
    if (!filter->is_string()) return fail(core::errc::wrong_type, path + ".filter", "must be a string");
    b.filter = std::string(filter->get_string());
    auto parsed = parse_filter(*b.filter, limits.filter);
    if (!parsed) return core::error{parsed.error().code, path + ".filter: " + parsed.error().message};
    b.parsed_filter = std::move(*parsed);
  }

  for (const auto& kv : o) {
    if (kv.key() != "id") b.echo.emplace(kv.key(), kv.value());
  }
  return b;
}

core::result<std::optional<resume_position>> read_resume(const boost::json::object& payload) {
  auto obj = read_object(payload, "rtcache", "");
  if (!obj) return obj.error();
  if (*obj == nullptr) return std::optional<resume_position>{};
  const boost::json::object& o = **obj;
  resume_position r;
  const boost::json::value* epoch = member(o, "epoch");
  if (epoch == nullptr) return fail(core::errc::missing_field, "rtcache.epoch", "is required");
  if (!epoch->is_string()) return fail(core::errc::wrong_type, "rtcache.epoch", "must be a string");
  const auto& e = epoch->get_string();
  if (e.empty()) return fail(core::errc::empty_segment, "rtcache.epoch", "is empty");
  if (e.size() > k_max_epoch_bytes) {
    return fail(core::errc::too_long, "rtcache.epoch",
                "is over the bound of " + std::to_string(k_max_epoch_bytes) + " bytes");
  }
  for (const char c : e) {
    if (c < 0x21 || c > 0x7e) return fail(core::errc::bad_char, "rtcache.epoch", "must be printable ASCII");
  }
  r.epoch = std::string(e);
  const boost::json::value* offset = member(o, "offset");
  if (offset == nullptr) return fail(core::errc::missing_field, "rtcache.offset", "is required");
  auto n = read_count(*offset, "rtcache.offset");
  if (!n) return n.error();
  r.offset = *n;
  return std::optional<resume_position>{std::move(r)};
}

// The identity of a binding for id assignment: what realtime-js compares (null table/filter == absent).
using binding_identity = std::tuple<std::string, std::string, std::optional<std::string>, std::optional<std::string>>;

}  // namespace

core::result<std::string> channel_name_of(std::string_view topic) {
  if (!topic.starts_with(k_topic_prefix)) {
    return core::error{core::errc::bad_prefix, "topic must start with \"realtime:\""};
  }
  if (topic.size() == k_topic_prefix.size()) {
    return core::error{core::errc::empty_segment, "topic \"realtime:\" has no channel name"};
  }
  if (topic.size() > k_max_topic_bytes) {
    return core::error{core::errc::too_long, "topic is " + std::to_string(topic.size()) + " bytes, over the bound of " +
                                                 std::to_string(k_max_topic_bytes)};
  }
  for (const char c : topic) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return core::error{core::errc::bad_char, "topic contains a control character"};
  }
  if (!is_valid_utf8(topic)) return core::error{core::errc::bad_char, "topic is not valid UTF-8"};
  return std::string(topic.substr(k_topic_prefix.size()));
}

std::int64_t binding_id(std::string_view event_text, std::string_view schema, std::optional<std::string_view> table,
                        std::optional<std::string_view> filter) noexcept {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a 64
  const auto mix = [&](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
  };
  const auto field = [&](std::optional<std::string_view> s) {
    // A presence byte and the length keep ("a","bc") and ("ab","c") apart.
    mix(s ? std::string_view("\x01", 1) : std::string_view("\x00", 1));
    if (s) {
      mix(std::to_string(s->size()));
      mix(":");
      mix(*s);
    }
  };
  field(event_text);
  field(schema);
  field(table);
  field(filter);
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(k_id_modulus)) + 1;
}

core::result<join_request> parse_join(std::string_view topic, const boost::json::object& payload,
                                      const join_limits& limits) {
  join_request j;
  auto name = channel_name_of(topic);
  if (!name) return name.error();
  j.channel = std::move(*name);

  if (const boost::json::value* token = member(payload, "access_token")) {
    if (!token->is_string()) return fail(core::errc::wrong_type, "access_token", "must be a string");
    if (token->get_string().size() > limits.max_token_bytes) {
      return fail(core::errc::too_long, "access_token",
                  "is over the bound of " + std::to_string(limits.max_token_bytes) + " bytes");
    }
    j.access_token = std::string(token->get_string());
  }
  auto resume = read_resume(payload);
  if (!resume) return resume.error();
  j.resume = std::move(*resume);

  auto config_obj = read_object(payload, "config", "");
  if (!config_obj) return config_obj.error();
  if (*config_obj == nullptr) return j;
  const boost::json::object& config = **config_obj;

  auto broadcast = read_broadcast(config);
  if (!broadcast) return broadcast.error();
  j.broadcast = std::move(*broadcast);
  auto presence = read_presence(config, limits);
  if (!presence) return presence.error();
  j.presence = std::move(*presence);
  auto is_private = read_bool(config, "private", "config", false);
  if (!is_private) return is_private.error();
  j.is_private = *is_private;

  const boost::json::value* changes = member(config, "postgres_changes");
  if (changes == nullptr) return j;
  if (!changes->is_array()) return fail(core::errc::wrong_type, "config.postgres_changes", "must be an array");
  const auto& list = changes->get_array();
  if (list.size() > limits.max_bindings) {
    return fail(
        core::errc::too_many, "config.postgres_changes",
        "has " + std::to_string(list.size()) + " bindings, over the bound of " + std::to_string(limits.max_bindings));
  }
  std::map<binding_identity, std::int64_t> ids;  // identity -> id
  std::map<std::int64_t, bool> taken;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto b = read_binding(list[i], "config.postgres_changes[" + std::to_string(i) + "]", limits);
    if (!b) return b.error();
    binding_identity identity{b->event_text, b->schema, b->table, b->filter};
    if (auto it = ids.find(identity); it != ids.end()) {
      b->id = it->second;
    } else {
      std::int64_t id = binding_id(b->event_text, b->schema, b->table, b->filter);
      while (taken.contains(id)) id = id % k_id_modulus + 1;  // a collision between different bindings
      taken[id] = true;
      ids.emplace(std::move(identity), id);
      b->id = id;
    }
    j.postgres_changes.push_back(std::move(*b));
  }
  return j;
}

std::string join_response_json(std::span<const postgres_binding> bindings, const join_position& position) {
  std::string out = R"({"postgres_changes":[)";
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    const postgres_binding& b = bindings[i];
    if (i != 0) out.push_back(',');
    out.push_back('{');
    for (const auto& kv : b.echo) {
      append_json_string(out, kv.key());
      out.push_back(':');
      out.append(boost::json::serialize(kv.value()));
      out.push_back(',');
    }
    out.append(R"("id":)");
    out.append(std::to_string(b.id));
    out.push_back('}');
  }
  out.append(R"(],"rtcache":{"epoch":)");
  append_json_string(out, position.epoch);
  out.append(R"(,"offset":)").append(std::to_string(position.offset));
  out.append(R"(,"recovered":)").append(position.recovered ? "true" : "false").append("}}");
  return out;
}

std::string encode_join_reply(protocol_version v, const reply_to& to, std::span<const postgres_binding> bindings,
                              const join_position& position) {
  return encode_reply_ok(v, to, join_response_json(bindings, position));
}

}  // namespace rtcache::protocol
