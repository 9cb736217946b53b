// The bounded request log and its JSON form.
#include "request_log.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace rtcache::demo {

void request_log::record(request_entry e) {
  e.seq = next_seq_++;
  if (entries_.size() == k_capacity) {
    entries_.pop_front();
    ++dropped_;
  }
  entries_.push_back(std::move(e));
}

void request_log::clear() {
  entries_.clear();
}

std::string request_log::to_json() const {
  boost::json::array arr;
  arr.reserve(entries_.size());
  for (const auto& e : entries_) {
    boost::json::object o;
    o["seq"] = e.seq;
    o["kind"] = to_string(e.kind);
    o["type"] = e.type;
    if (e.id != 0) o["id"] = e.id;
    if (e.kind == route_kind::list) {
      o["factory"] = e.factory;
      o["page"] = e.page;
    }
    o["status"] = e.status;
    o["at"] = e.at_ms;
    arr.push_back(std::move(o));
  }
  boost::json::object root;
  root["entries"] = std::move(arr);
  root["dropped"] = dropped_;
  return boost::json::serialize(root);
}

}  // namespace rtcache::demo
