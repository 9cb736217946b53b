// What an API request asks for: turns the method and target ("/api/wo/17/approve?x=y") into a route with a
// validated doc type, id and paging, or the HTTP error to answer. Pure: no I/O, no database.
#pragma once

#include "doc_catalog.hpp"

#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::demo {

// An answer that is not 2xx: the status and a message for the JSON body {"error": message}.
struct api_error {
  int status = 500;
  std::string message;
  friend bool operator==(const api_error&, const api_error&) = default;
};

template <class T>
using api_result = boost::system::result<T, api_error>;

[[noreturn]] void throw_exception_from_error(const api_error& e, const boost::source_location& loc);

enum class route_kind {
  list,            // GET    /api/<type>?factory=&page=&size=
  detail,          // GET    /api/<type>/<id>
  create,          // POST   /api/<type>
  update,          // PATCH  /api/<type>/<id>
  remove,          // DELETE /api/<type>/<id>
  approve,         // POST   /api/<type>/<id>/approve
  reject,          // POST   /api/<type>/<id>/reject
  bulk,            // POST   /api/<type>/_bulk
  requests_list,   // GET    /api/_requests            (dev: the request log)
  requests_reset,  // DELETE /api/_requests            (dev)
  mint_token,      // POST   /api/_token               (dev: demo tokens)
  health,          // GET    /api/_health
};

// "list", "detail", ... (the request log and tests use these names).
std::string_view to_string(route_kind k) noexcept;

inline constexpr std::int64_t k_default_page_size = 20;
inline constexpr std::int64_t k_max_page_size = 100;
inline constexpr std::int64_t k_max_page = 100000;

struct route {
  route_kind kind{};
  const doc_table* table = nullptr;  // set for every doc route
  std::int64_t id = 0;               // detail, update, remove, approve, reject
  std::string factory;               // list: the factory query parameter (validated id)
  std::int64_t page = 1;             // list: 1-based
  std::int64_t page_size = k_default_page_size;
};

// Errors: 404 unknown path or doc type, 405 known path with another method, 400 bad id, page, size or
// factory (list requires factory).
api_result<route> parse_route(std::string_view method, std::string_view target);

}  // namespace rtcache::demo
