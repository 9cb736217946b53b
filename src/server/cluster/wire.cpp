// The binary body codec: 'R', version 1, a kind byte, then the kind's fields in a fixed order. Strings are a
// LEB128 length and the bytes; integers LEB128; flags one byte.
#include "cluster/wire.hpp"

namespace rtcache::cluster {

namespace {

constexpr char k_magic = 'R';
constexpr std::uint8_t k_version = 1;

enum kind : std::uint8_t { k_message = 1, k_record = 2, k_gap = 3, k_writer = 4, k_position = 5, k_ingest = 6 };

enum flag : std::uint8_t { f_raw = 1, f_contract = 2, f_record = 4 };

void put_uint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_str(std::string& out, std::string_view s) {
  put_uint(out, s.size());
  out.append(s);
}

void put_message(std::string& out, const channel_message& m) {
  put_str(out, m.channel);
  put_str(out, m.event);
  put_str(out, m.factory);
  put_str(out, m.origin_node);
  put_uint(out, m.origin_conn);
  out.push_back(static_cast<char>((m.raw ? f_raw : 0) | (m.contract ? f_contract : 0) | (m.record ? f_record : 0)));
  put_str(out, m.payload);
  if (m.record) put_str(out, *m.record);
}

class reader {
 public:
  reader(std::string_view bytes, const wire_limits& limits) : in_(bytes), limits_(limits) {}

  bool done() const noexcept { return at_ == in_.size(); }
  const std::optional<core::error>& failure() const noexcept { return error_; }

  std::uint64_t uint(std::string_view what) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == in_.size()) return fail(what, "ends inside a number"), 0;
      const auto b = static_cast<std::uint8_t>(in_[at_++]);
      if (shift == 63 && b > 1) return fail(what, "number out of range"), 0;
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift != 0) return fail(what, "number not in its shortest form"), 0;
        return v;
      }
    }
    return fail(what, "number out of range"), 0;
  }

  std::string str(std::string_view what, std::size_t bound) {
    const std::uint64_t n = uint(what);
    if (error_) return {};
    if (n > bound) {
      fail(what, std::to_string(n) + " bytes, over the bound of " + std::to_string(bound), core::errc::too_long);
      return {};
    }
    if (n > in_.size() - at_) return fail(what, "ends inside the field"), std::string();
    std::string out(in_.substr(at_, n));
    at_ += n;
    return out;
  }

  std::uint8_t byte(std::string_view what) {
    if (at_ == in_.size()) return fail(what, "missing"), 0;
    return static_cast<std::uint8_t>(in_[at_++]);
  }

  void fail(std::string_view what, std::string why, core::errc code = core::errc::bad_value) {
    if (!error_) error_ = core::error{code, "stream body: " + std::string(what) + ": " + std::move(why)};
  }

  const wire_limits& limits() const noexcept { return limits_; }

 private:
  std::string_view in_;
  std::size_t at_ = 0;
  const wire_limits& limits_;
  std::optional<core::error> error_;
};

channel_message read_message(reader& r) {
  const auto& l = r.limits();
  channel_message m;
  m.channel = r.str("channel", l.max_channel_bytes);
  m.event = r.str("event", l.max_event_bytes);
  m.factory = r.str("factory", l.max_factory_bytes);
  m.origin_node = r.str("origin node", l.max_node_bytes);
  m.origin_conn = r.uint("origin connection");
  const std::uint8_t flags = r.byte("flags");
  if (flags & ~(f_raw | f_contract | f_record)) r.fail("flags", "unknown bits");
  m.raw = flags & f_raw;
  m.contract = flags & f_contract;
  m.payload = r.str("payload", l.max_payload_bytes);
  if (flags & f_record) m.record = r.str("record", l.max_payload_bytes);
  if (m.channel.empty()) r.fail("channel", "empty");
  if (m.channel.find('\0') != std::string::npos) r.fail("channel", "holds a NUL byte");
  if (m.raw && m.contract) r.fail("flags", "a contract message cannot be raw");
  return m;
}

}  // namespace

std::string encode_body(const stream_body& body) {
  std::string out;
  out.push_back(k_magic);
  out.push_back(static_cast<char>(k_version));
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, channel_message>) {
          out.push_back(static_cast<char>(k_message));
          put_message(out, b);
        } else if constexpr (std::is_same_v<T, record_message>) {
          out.push_back(static_cast<char>(k_record));
          put_str(out, b.channel);
          out.push_back(b.factory ? 1 : 0);
          if (b.factory) put_str(out, *b.factory);
          put_str(out, b.record);
        } else if constexpr (std::is_same_v<T, gap_message>) {
          out.push_back(static_cast<char>(k_gap));
          put_str(out, b.reason);
          put_uint(out, b.tables.size());
          for (const auto& t : b.tables) {
            put_str(out, t.schema);
            put_str(out, t.table);
            put_str(out, t.doc_type);
          }
          put_str(out, b.detail);
        } else if constexpr (std::is_same_v<T, writer_message>) {
          out.push_back(static_cast<char>(k_writer));
          put_str(out, b.node_id);
        } else if constexpr (std::is_same_v<T, position_message>) {
          out.push_back(static_cast<char>(k_position));
        } else {
          out.push_back(static_cast<char>(k_ingest));
          put_uint(out, b.items.size());
          for (const auto& m : b.items) put_message(out, m);
        }
      },
      body);
  return out;
}

core::result<stream_body> decode_body(std::string_view bytes, const wire_limits& limits) {
  if (bytes.size() < 3 || bytes[0] != k_magic) {
    return core::error{core::errc::bad_value, "stream body: not an rtcache body (no 'R' header)"};
  }
  if (static_cast<std::uint8_t>(bytes[1]) != k_version) {
    return core::error{core::errc::bad_value, "stream body: version " +
                                                  std::to_string(static_cast<std::uint8_t>(bytes[1])) +
                                                  " is not one this node reads (1)"};
  }
  reader r(bytes.substr(3), limits);
  stream_body out;
  switch (static_cast<std::uint8_t>(bytes[2])) {
    case k_message: out = read_message(r); break;
    case k_record: {
      record_message m;
      m.channel = r.str("channel", limits.max_channel_bytes);
      const std::uint8_t has_factory = r.byte("factory flag");
      if (has_factory > 1) r.fail("factory flag", "not 0 or 1");
      if (has_factory == 1) m.factory = r.str("factory", limits.max_factory_bytes);
      m.record = r.str("record", limits.max_payload_bytes);
      if (m.channel.empty()) r.fail("channel", "empty");
      out = std::move(m);
      break;
    }
    case k_gap: {
      gap_message g;
      g.reason = r.str("reason", limits.max_event_bytes);
      const std::uint64_t n = r.uint("table count");
      if (n > limits.max_items) {
        r.fail("tables", std::to_string(n) + " entries, over the bound of " + std::to_string(limits.max_items),
               core::errc::too_many);
      }
      for (std::uint64_t i = 0; i < n && !r.failure(); ++i) {
        gap_table_ref t;
        t.schema = r.str("table schema", limits.max_channel_bytes);
        t.table = r.str("table name", limits.max_channel_bytes);
        t.doc_type = r.str("table doc type", limits.max_channel_bytes);
        g.tables.push_back(std::move(t));
      }
      g.detail = r.str("detail", limits.max_text_bytes);
      out = std::move(g);
      break;
    }
    case k_writer: out = writer_message{r.str("node id", limits.max_node_bytes)}; break;
    case k_position: out = position_message{}; break;
    case k_ingest: {
      ingest_batch b;
      const std::uint64_t n = r.uint("item count");
      if (n > limits.max_items) {
        r.fail("items", std::to_string(n) + " entries, over the bound of " + std::to_string(limits.max_items),
               core::errc::too_many);
      }
      for (std::uint64_t i = 0; i < n && !r.failure(); ++i) b.items.push_back(read_message(r));
      out = std::move(b);
      break;
    }
    default:
      return core::error{core::errc::bad_value,
                         "stream body: unknown kind " + std::to_string(static_cast<std::uint8_t>(bytes[2]))};
  }
  if (r.failure()) return *r.failure();
  if (!r.done()) return core::error{core::errc::bad_value, "stream body: bytes after the last field"};
  return out;
}

}  // namespace rtcache::cluster
