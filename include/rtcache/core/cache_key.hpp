// Query cache keys, one source of truth for both SDKs: ['doc', type, id] and ['list', type, factoryId, {page}].
// "List heads" are page 1: the only page the policy ever refetches on create or delete.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace rtcache::core {

enum class cache_key_kind { doc, list };

struct cache_key {
  cache_key_kind kind{};
  std::string type;
  std::string id;          // doc only
  std::string factory_id;  // list only
  std::uint32_t page = 0;  // list only, >= 1

  // JSON array text as TanStack Query sees the key: ["doc","wo","123"] or ["list","wo","f1",{"page":1}].
  std::string to_json() const;

  friend auto operator<=>(const cache_key&, const cache_key&) = default;
};

cache_key key_doc(std::string type, std::string id);
// REQUIRES: page >= 1.
cache_key key_list(std::string type, std::string factory_id, std::uint32_t page = 1);
cache_key key_list_heads(std::string type, std::string factory_id);

}  // namespace rtcache::core
