// Route parsing for the demo API.
#include "routes.hpp"

#include "rtcache/core/identifier.hpp"

#include <boost/throw_exception.hpp>
#include <boost/url/parse.hpp>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace rtcache::demo {

void throw_exception_from_error(const api_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

std::string_view to_string(route_kind k) noexcept {
  switch (k) {
    case route_kind::list: return "list";
    case route_kind::detail: return "detail";
    case route_kind::create: return "create";
    case route_kind::update: return "update";
    case route_kind::remove: return "delete";
    case route_kind::approve: return "approve";
    case route_kind::reject: return "reject";
    case route_kind::bulk: return "bulk";
    case route_kind::requests_list: return "requests_list";
    case route_kind::requests_reset: return "requests_reset";
    case route_kind::mint_token: return "mint_token";
    case route_kind::health: return "health";
  }
  return "unknown";
}

namespace {

api_error not_found() {
  return {404, "no such endpoint"};
}
api_error bad_method() {
  return {405, "method not allowed"};
}

api_result<std::int64_t> parse_positive(std::string_view text, std::int64_t max, std::string_view what) {
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc{} || ptr != end || v < 1 || v > max) {
    return api_error{400, std::string(what) + " must be an integer between 1 and " + std::to_string(max)};
  }
  return api_result<std::int64_t>(boost::system::in_place_value, v);
}

}  // namespace

api_result<route> parse_route(std::string_view method, std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return api_error{400, "malformed request target"};

  std::vector<std::string> segs;
  for (auto s : url->segments()) segs.emplace_back(s);
  if (segs.size() < 2 || segs[0] != "api") return not_found();

  route r;
  const std::string& head = segs[1];
  if (segs.size() == 2 && head == "_requests") {
    if (method == "GET")
      r.kind = route_kind::requests_list;
    else if (method == "DELETE")
      r.kind = route_kind::requests_reset;
    else
      return bad_method();
    return r;
  }
  if (segs.size() == 2 && head == "_token") {
    if (method != "POST") return bad_method();
    r.kind = route_kind::mint_token;
    return r;
  }
  if (segs.size() == 2 && head == "_health") {
    if (method != "GET") return bad_method();
    r.kind = route_kind::health;
    return r;
  }

  r.table = find_doc_table(head);
  if (r.table == nullptr || segs.size() > 4) return not_found();

  if (segs.size() == 2) {
    if (method == "POST") {
      r.kind = route_kind::create;
      return r;
    }
    if (method != "GET") return bad_method();
    r.kind = route_kind::list;
    const auto params = url->params();
    auto f = params.find("factory");
    if (f == params.end() || !(*f).has_value) return api_error{400, "factory query parameter is required"};
    r.factory = std::string((*f).value);
    if (auto ok = core::validate_id(r.factory, "factory"); !ok) return api_error{400, ok.error().message};
    if (auto p = params.find("page"); p != params.end()) {
      auto v = parse_positive((*p).value, k_max_page, "page");
      if (!v) return v.error();
      r.page = *v;
    }
    if (auto s = params.find("size"); s != params.end()) {
      auto v = parse_positive((*s).value, k_max_page_size, "size");
      if (!v) return v.error();
      r.page_size = *v;
    }
    return r;
  }

  if (segs.size() == 3 && segs[2] == "_bulk") {
    if (method != "POST") return bad_method();
    r.kind = route_kind::bulk;
    return r;
  }

  auto id = parse_positive(segs[2], INT64_MAX, "id");
  if (!id) return id.error();
  r.id = *id;

  if (segs.size() == 3) {
    if (method == "GET")
      r.kind = route_kind::detail;
    else if (method == "PATCH")
      r.kind = route_kind::update;
    else if (method == "DELETE")
      r.kind = route_kind::remove;
    else
      return bad_method();
    return r;
  }
  if (segs[3] != "approve" && segs[3] != "reject") return not_found();
  if (method != "POST") return bad_method();
  r.kind = segs[3] == "approve" ? route_kind::approve : route_kind::reject;
  return r;
}

}  // namespace rtcache::demo
