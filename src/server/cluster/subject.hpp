// Where a message lives in the stream: the subject of each channel partition, of each per-table record channel
// and of the control messages, and the key-value keys of the channel ledger. Pure text functions, the same on
// every node (docs/cluster.md, (d) and (f)).
//
// A channel partition is (hub channel name, factory): the messages of one channel that carry one factory, or
// none ("untagged": public and private channels, whose messages carry no factory). A subscriber's view of a
// channel is a set of partitions, so a partition is what a range fetch reads and what MaxMsgsPerSubject bounds.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// The token that stands for "no factory" in subjects and position headers. encode_token never produces it.
inline constexpr std::string_view k_untagged_token = "~";

// One subject token (or key-value key token) for arbitrary bytes: [A-Za-z0-9_-] stay, every other byte
// (`.`, `*`, `>`, whitespace, `:`, `%`, `~`, control bytes, UTF-8) becomes `%HH` (upper-case hex). Never
// empty: an empty input is "%". Injective, so two channels never share a subject.
std::string encode_token(std::string_view bytes);
// The inverse; nullopt for anything encode_token cannot produce.
std::optional<std::string> decode_token(std::string_view token);

// The token of a partition's factory: encode_token(factory), or k_untagged_token for none.
std::string factory_token(std::string_view factory);

// The subjects of one stream named `prefix` (the stream's name). Its messages live under
//   <prefix>.c.<channel>.<factory>   channel messages, one subject per partition
//   <prefix>.p.<channel>             postgres_changes records of a per-table channel (no positions)
//   <prefix>.x.<kind>                control messages (gap markers, writer activations, WAL positions)
// and relay ingest goes to the ingest stream (ingest_stream_name) under <prefix>_ingest.<node>.
struct subjects {
  std::string prefix;

  std::string partition(std::string_view channel, std::string_view factory) const;
  // Every partition of `channel`: "<prefix>.c.<channel>.*".
  std::string channel_wildcard(std::string_view channel) const;
  std::string records(std::string_view channel) const;
  std::string control(std::string_view kind) const;
  std::string ingest(std::string_view node_id) const;

  // What the main stream and the ingest stream are configured with.
  std::string main_filter_channels() const { return prefix + ".c.>"; }
  std::string main_filter_records() const { return prefix + ".p.>"; }
  std::string main_filter_control() const { return prefix + ".x.>"; }
  std::string ingest_filter() const;
  // Every subject of the main stream: "<prefix>.>" minus the ingest subjects is not expressible, so the
  // main stream lists the three filters above; this is the wildcard for "the stream's last message".
  std::string everything() const { return prefix + ".*.>"; }
};

// The ingest stream of the main stream named `stream`: "<stream>_ingest". Its subjects, "<stream>_ingest.<node>",
// start with a token of their own, so they never overlap the main stream's "<stream>.>". Every node publishes its
// relay ingest there; the stream's writer republishes it into the main stream (writer.hpp, ingest_pump.hpp).
std::string ingest_stream_name(std::string_view stream);

// The ledger's key of one partition (positions.hpp: generations, and the proof of a first incarnation, are per
// partition): "<channel>.<factory>". Key-value keys allow [-/_=.a-zA-Z0-9]: both go in with '=' as the escape byte
// instead of '%' (so neither holds a '.'), the untagged partition as "=" (which no escaped id is). The keys of one
// channel's partitions are "<channel>.*".
std::string ledger_key(std::string_view channel, std::string_view factory);

}  // namespace rtcache::cluster
