// Test support: pgoutput messages and CopyData payloads encoded from the decoder's structs, written from the
// protocol documentation (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html) so
// tests of the session can speak in typed messages. Not part of the library.
#pragma once

#include "rtcache/pg/pgoutput.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace rtcache::pg::test {

class encoder {
 public:
  void ch(char c) { out_ += c; }
  void be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_ += static_cast<char>((v >> (8 * i)) & 0xFFU);
  }
  void str(const std::string& s) {
    out_ += s;
    out_ += '\0';
  }
  void tuple(const tuple_data& t) {
    be(t.size(), 2);
    for (const column_value& v : t) {
      switch (v.kind) {
        case value_kind::null: ch('n'); break;
        case value_kind::unchanged_toast: ch('u'); break;
        case value_kind::text:
        case value_kind::binary:
          ch(v.kind == value_kind::text ? 't' : 'b');
          be(v.bytes.size(), 4);
          out_ += v.bytes;
          break;
      }
    }
  }
  void old_tuple(old_tuple_kind kind, const tuple_data& t) {
    if (kind == old_tuple_kind::none) return;
    ch(kind == old_tuple_kind::key ? 'K' : 'O');
    tuple(t);
  }
  void operator()(const begin_message& m) {
    ch('B');
    be(m.final_lsn.value, 8);
    be(static_cast<std::uint64_t>(m.commit_time.micros), 8);
    be(m.xid, 4);
  }
  void operator()(const commit_message& m) {
    ch('C');
    be(m.flags, 1);
    be(m.commit_lsn.value, 8);
    be(m.end_lsn.value, 8);
    be(static_cast<std::uint64_t>(m.commit_time.micros), 8);
  }
  void operator()(const origin_message& m) {
    ch('O');
    be(m.commit_lsn.value, 8);
    str(m.name);
  }
  void operator()(const relation_message& m) {
    ch('R');
    be(m.oid, 4);
    str(m.schema);
    str(m.name);
    ch(static_cast<char>(m.identity));
    be(m.columns.size(), 2);
    for (const relation_column& c : m.columns) {
      be(c.is_key ? 1 : 0, 1);
      str(c.name);
      be(c.type_oid, 4);
      be(static_cast<std::uint32_t>(c.type_modifier), 4);
    }
  }
  void operator()(const type_message& m) {
    ch('Y');
    be(m.oid, 4);
    str(m.schema);
    str(m.name);
  }
  void operator()(const insert_message& m) {
    ch('I');
    be(m.relation_oid, 4);
    ch('N');
    tuple(m.new_tuple);
  }
  void operator()(const update_message& m) {
    ch('U');
    be(m.relation_oid, 4);
    old_tuple(m.old_kind, m.old_tuple);
    ch('N');
    tuple(m.new_tuple);
  }
  void operator()(const delete_message& m) {
    ch('D');
    be(m.relation_oid, 4);
    old_tuple(m.old_kind, m.old_tuple);
  }
  void operator()(const truncate_message& m) {
    ch('T');
    be(m.relation_oids.size(), 4);
    be(static_cast<std::uint64_t>((m.cascade ? 1 : 0) | (m.restart_identity ? 2 : 0)), 1);
    for (const std::uint32_t oid : m.relation_oids) be(oid, 4);
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

inline std::string encode(const message& m) {
  encoder e;
  std::visit(e, m);
  return e.bytes();
}

// An XLogData CopyData payload carrying `m`.
inline std::string xlog(const message& m, lsn wal_start = {}, lsn wal_end = {}) {
  encoder e;
  e.ch('w');
  e.be(wal_start.value, 8);
  e.be(wal_end.value, 8);
  e.be(0, 8);
  return e.bytes() + encode(m);
}

inline std::string keepalive(lsn wal_end, bool reply_requested) {
  encoder e;
  e.ch('k');
  e.be(wal_end.value, 8);
  e.be(0, 8);
  e.be(reply_requested ? 1 : 0, 1);
  return e.bytes();
}

}  // namespace rtcache::pg::test
