// Authentication, dispatch and logging of API requests.
#include "api_handler.hpp"

#include "demo_token.hpp"
#include "rtcache/core/identifier.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace rtcache::demo {
namespace {

api_response error_response(const api_error& e) {
  boost::json::object o;
  o["error"] = e.message;
  return {e.status, boost::json::serialize(o)};
}

api_response from(api_result<std::string> r) {
  if (!r) return error_response(r.error());
  return {200, std::move(*r)};
}

std::string_view bearer(std::string_view header) {
  constexpr std::string_view k_prefix = "Bearer ";
  if (header.size() > k_prefix.size() && header.substr(0, k_prefix.size()) == k_prefix) {
    return header.substr(k_prefix.size());
  }
  return {};
}

}  // namespace

api_handler::api_handler(store& db, const auth::jwt_verifier& verifier, std::optional<std::string> dev_secret,
                         wall_clock now)
    : db_(db), verifier_(verifier), dev_secret_(std::move(dev_secret)), now_(std::move(now)) {}

api_response api_handler::handle(std::string_view method, std::string_view target, std::string_view authorization,
                                 std::string_view body) {
  auto r = parse_route(method, target);
  if (!r) return error_response(r.error());

  switch (r->kind) {
    case route_kind::health: return {200, R"({"status":"ok"})"};
    case route_kind::requests_list:
    case route_kind::requests_reset:
    case route_kind::mint_token:
      if (!dev_secret_) return error_response({404, "dev endpoints are disabled (start the API with --dev)"});
      if (r->kind == route_kind::mint_token) return mint_token(body);
      if (r->kind == route_kind::requests_reset) {
        log_.clear();
        return {200, R"({"cleared":true})"};
      }
      return {200, log_.to_json()};
    default: break;
  }

  const auto now = std::chrono::floor<std::chrono::seconds>(now_());
  auto who = verifier_.verify(bearer(authorization), now);
  if (!who) {
    const auto refusal = auth::to_http_refusal(who.error());
    return {refusal.status, refusal.body};
  }

  api_response res = dispatch(*r, *who, body);
  request_entry e;
  e.kind = r->kind;
  e.type = std::string(r->table->type);
  e.id = r->id;
  if (r->kind == route_kind::list) {
    e.factory = r->factory;
    e.page = r->page;
  }
  e.status = res.status;
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now_().time_since_epoch()).count();
  log_.record(std::move(e));
  return res;
}

api_response api_handler::dispatch(const route& r, const auth::principal& who, std::string_view body) {
  const doc_table& t = *r.table;
  const bool writes = r.kind != route_kind::list && r.kind != route_kind::detail;
  if (writes && who.role == auth::auth_role::anon) return error_response({403, "anon tokens are read-only"});
  switch (r.kind) {
    case route_kind::list: return from(db_.list(t, who.scope, r.factory, r.page, r.page_size));
    case route_kind::detail: return from(db_.get(t, who.scope, r.id));
    case route_kind::create: return from(db_.create(t, who.scope, body));
    case route_kind::update: return from(db_.update(t, who.scope, r.id, body));
    case route_kind::remove: return from(db_.remove(t, who.scope, r.id));
    case route_kind::approve: return from(db_.set_status(t, who.scope, r.id, true));
    case route_kind::reject: return from(db_.set_status(t, who.scope, r.id, false));
    case route_kind::bulk: return from(db_.bulk(t, who.scope, body));
    default: return error_response({404, "no such endpoint"});
  }
}

api_response api_handler::mint_token(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body.empty() ? std::string_view("{}") : body, ec);
  if (ec || !v.is_object()) return error_response({400, "body must be a JSON object"});
  const auto& o = v.as_object();

  token_request req;
  if (const auto* role = o.if_contains("role")) {
    if (!role->is_string()) return error_response({400, "role must be a string"});
    req.role = std::string(role->as_string());
  }
  if (req.role != "anon" && req.role != "authenticated" && req.role != "service_role") {
    return error_response({400, "role must be anon, authenticated or service_role"});
  }
  if (const auto* sub = o.if_contains("sub")) {
    if (!sub->is_string()) return error_response({400, "sub must be a string"});
    req.subject = std::string(sub->as_string());
  }
  const auto* factories = o.if_contains("factories");
  if (factories != nullptr) {
    if (!factories->is_array()) return error_response({400, "factories must be an array of ids"});
    for (const auto& f : factories->as_array()) {
      if (!f.is_string()) return error_response({400, "factories must be an array of ids"});
      std::string id(f.as_string());
      if (auto ok = core::validate_id(id, "factory"); !ok) return error_response({400, ok.error().message});
      req.factory_ids.push_back(std::move(id));
    }
  }
  std::chrono::seconds ttl{3600};
  if (const auto* t = o.if_contains("ttlSeconds")) {
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > k_max_demo_token_ttl.count()) {
      return error_response({400, "ttlSeconds must be between 1 and " + std::to_string(k_max_demo_token_ttl.count())});
    }
    ttl = std::chrono::seconds(t->as_int64());
  }
  req.expires_at = std::chrono::floor<std::chrono::seconds>(now_()) + ttl;

  boost::json::object out;
  out["token"] = mint_demo_token(*dev_secret_, req);
  out["expiresAt"] = req.expires_at.time_since_epoch().count();
  return {200, boost::json::serialize(out)};
}

}  // namespace rtcache::demo
