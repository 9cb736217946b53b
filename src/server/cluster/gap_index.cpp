// Gap coverage.
#include "cluster/gap_index.hpp"

#include "ingest/hub_sink.hpp"

#include <algorithm>

namespace rtcache::cluster {

std::string_view doc_type_of(std::string_view channel) noexcept {
  std::string_view rest;
  if (channel.starts_with("doc:")) {
    rest = channel.substr(4);
  } else if (channel.starts_with("list:")) {
    rest = channel.substr(5);
  } else {
    return {};
  }
  const auto colon = rest.find(':');
  return colon == std::string_view::npos ? std::string_view() : rest.substr(0, colon);
}

bool is_contract_channel(std::string_view channel) noexcept {
  return channel.starts_with("doc:") || channel.starts_with("list:") || channel.starts_with("factory:");
}

namespace {

bool touches_a_doc_type(const gap_message& gap) {
  return std::any_of(gap.tables.begin(), gap.tables.end(), [](const gap_table_ref& t) { return !t.doc_type.empty(); });
}

}  // namespace

bool gap_covers(const gap_message& gap, std::string_view channel) {
  if (gap.ingest_lost()) return !ingest::is_internal_channel(channel);
  if (!is_contract_channel(channel)) return false;
  if (gap.all()) return true;
  // A factory summary counts documents of every type: a TRUNCATE of any mapped table may have changed it
  // (ingest::gap_touches, docs/pg-source.md). Issue 13: the cluster starts over what the single node starts over.
  if (channel.starts_with("factory:")) return touches_a_doc_type(gap);
  const std::string_view type = doc_type_of(channel);
  if (type.empty()) return false;
  return std::any_of(gap.tables.begin(), gap.tables.end(), [&](const gap_table_ref& t) { return t.doc_type == type; });
}

void gap_index::add(std::uint64_t seq, const gap_message& gap) {
  latest_ = std::max(latest_, seq);
  if (gap.ingest_lost()) relayed_ = std::max(relayed_, seq);
  if (gap.all()) {
    all_ = std::max(all_, seq);
    return;
  }
  if (touches_a_doc_type(gap)) any_type_ = std::max(any_type_, seq);
  for (const auto& t : gap.tables) {
    if (t.doc_type.empty()) continue;  // a postgres_changes-only table: no channel with positions
    auto [it, inserted] = by_type_.try_emplace(t.doc_type, seq);
    if (!inserted) it->second = std::max(it->second, seq);
  }
}

std::uint64_t gap_index::covering(std::string_view channel) const {
  if (ingest::is_internal_channel(channel)) return 0;
  if (!is_contract_channel(channel)) return relayed_;
  std::uint64_t out = std::max(all_, relayed_);
  if (channel.starts_with("factory:")) return std::max(out, any_type_);
  const std::string_view type = doc_type_of(channel);
  if (!type.empty()) {
    if (auto it = by_type_.find(type); it != by_type_.end()) out = std::max(out, it->second);
  }
  return out;
}

void gap_index::clear() {
  relayed_ = 0;
  all_ = 0;
  any_type_ = 0;
  latest_ = 0;
  by_type_.clear();
}

}  // namespace rtcache::cluster
