// Who may join and send on channels that are not contract channels: Supabase's private channels (a join with
// config.private:true, authorised by rules instead of Supabase's RLS policies on realtime.messages), the switch
// that turns public channels off ("Allow public access" off, Supabase's private_only), and whether clients may
// broadcast at all (broadcast.from_clients). Contract channels (doc:, list:, factory:) are decided by the factory
// scope (auth.hpp: authorize_join), never here. Pure: no I/O, no clock.
//
// The model next to Supabase's (docs/security.md, docs/operations.md):
//   Supabase                                        rtcache
//   policy ON realtime.messages FOR SELECT          rule with actions = ["read"]   (join, receive)
//   policy ... FOR INSERT                           rule with actions = ["write"]  (send)
//   TO authenticated                                roles = ["authenticated"]
//   USING (realtime.topic() = 'room:' || ...)       topic = "room:*" (a pattern; its wildcards are captures)
//   USING (auth.jwt() -> ... = ...)                 claims = { "app_metadata.team" = "{1}" }
//   service_role (BYPASSRLS)                        service_role: always allowed
//   several permissive policies: any one admits     several rules: any one admits
// Unlike RLS, rules cannot query tables: conditions are on the token's claims and the topic only.
#pragma once

#include "auth/auth.hpp"
#include "rtcache/core/error.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::auth {

// broadcast.from_clients: whether connections that are not service_role may send broadcasts (WebSocket and
// POST /api/broadcast). service_role may always.
enum class client_broadcasts {
  off,          // no client broadcasts at all
  public_only,  // on public (non-contract) channels only ("public")
  all,          // on public channels, and on private channels where a rule grants "write"
};

std::string_view to_string(client_broadcasts mode) noexcept;  // "off", "public", "all"
// Errors: bad_value (anything but "off", "public", "all").
core::result<client_broadcasts> parse_client_broadcasts(std::string_view text);

// One rule: which principals may read (join) or write (send to) the private channels whose name matches `topic`.
struct private_channel_rule {
  // A channel name pattern, matched segment by segment (segments are separated by ':'):
  //   a literal segment matches itself; a segment with one '*' ("*", "room-*", "*-log") matches a segment whose
  //   '*' part is at least one character; "**" as the last segment matches the rest of the name (one character or
  //   more, ':' included). Each '*' or "**" is a capture, numbered from 1 in order.
  std::string topic;
  std::vector<auth_role> roles;  // the roles the rule applies to (service_role need not be listed: always allowed)
  // Each claim (a dotted path into the token's payload) must hold `value`, after "{n}" in it is replaced by
  // capture n: a string claim equal to it, a number claim whose decimal text is it, or an array holding such an
  // element. All must hold.
  std::vector<std::pair<std::string, std::string>> claims;
  bool read = true;    // join and receive
  bool write = false;  // send (broadcast)
  std::string where;   // where it was configured, for problems
};

// The configuration the gateway decides with (gateway_config::channels).
struct channel_policy {
  // true: a join without config.private:true of a channel that is not a contract channel is refused, and so are
  // sends to such a channel (Supabase's "Allow public access" off). Contract channels are unaffected.
  bool private_only = false;
  client_broadcasts from_clients = client_broadcasts::off;
  std::vector<private_channel_rule> private_rules;
};

inline constexpr std::size_t k_max_private_rules = 256;
inline constexpr std::size_t k_max_rule_claims = 16;

// A decision, with the reason a refusal sends (a phx_reply reason, a REST refusal's reason).
struct access_decision {
  bool allowed = false;
  std::string reason;  // empty when allowed
};

// The compiled policy. Thread-safety: immutable after create(); every member may be called concurrently.
class channel_access {
 public:
  channel_access() = default;  // public access on, no client broadcasts, no rules
  // Errors (bad_value, message prefixed with the rule's `where`): a malformed pattern (empty, an empty segment,
  // more than one '*' in a segment, "**" not last), a placeholder naming no capture, an empty claim path, no
  // roles, a rule granting nothing; too_many beyond k_max_private_rules rules or k_max_rule_claims claims.
  static core::result<channel_access> create(channel_policy policy);

  const channel_policy& policy() const noexcept { return policy_; }

  // A join of a channel that is not a contract channel. private: the rules' read grant (service_role always);
  // refused: "Unauthorized: You do not have permissions to read from this Channel topic: <name>". Public: allowed
  // unless private_only ("PrivateOnly: This project only allows private channels").
  access_decision may_join(const principal& who, std::string_view name, bool is_private) const;

  // A broadcast from `who` to a channel that is not a contract channel (its private or public instance).
  // service_role: always. Otherwise from_clients decides; on a private channel (with from_clients = all) a rule
  // must grant write; a public channel is refused when private_only.
  access_decision may_send(const principal& who, std::string_view name, bool is_private) const;

 private:
  explicit channel_access(channel_policy policy) : policy_(std::move(policy)) {}
  bool granted(const principal& who, std::string_view name, bool write) const;

  channel_policy policy_;
};

// Whether `name` matches `pattern` (private_channel_rule::topic), and its captures in order. Exposed for tests.
// REQUIRES: the pattern passed channel_access::create's checks.
std::optional<std::vector<std::string_view>> match_channel_pattern(std::string_view pattern, std::string_view name);

// Whether the claim at dotted `path` of the payload JSON `claims_json` holds `value` (private_channel_rule::claims).
// Malformed JSON or a missing path: false.
bool claim_holds(std::string_view claims_json, std::string_view path, std::string_view value);

}  // namespace rtcache::auth
