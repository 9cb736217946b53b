// fetch_range by direct gets or by an ephemeral filtered consumer.
#include "cluster/range_fetch.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/ordered_consumer.hpp"

namespace rtcache::cluster {
namespace {

error too_many(const range_request& r) {
  return error{errc::too_many, 0, 0,
               "range " + std::to_string(r.from_seq) + ".." + std::to_string(r.to_seq) + " of '" + r.subject +
                   "' holds more than " + std::to_string(r.max_messages) + " messages"};
}

// One direct get: the message `dg` names, nullopt when there is none.
result<std::optional<stream_message>> direct_get(const connection& conn, const std::string& stream,
                                                 const jsDirectGetMsgOptions& dg, std::chrono::milliseconds timeout,
                                                 const std::string& what) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout.count();
  natsMsg* raw = nullptr;
  jsDirectGetMsgOptions options = dg;
  natsStatus s = js_DirectGetMsg(&raw, conn.handles().js, stream.c_str(), &jo, &options);
  detail::msg_ptr msg(raw);
  if (s == NATS_NOT_FOUND) return std::optional<stream_message>();
  if (s != NATS_OK) return detail::make_error(s, what);
  const std::uint64_t found = natsMsg_GetSequence(msg.get());
  return std::optional<stream_message>(detail::to_stream_message(msg.get(), found, natsMsg_GetTime(msg.get()), true));
}

result<std::vector<stream_message>> by_direct_get(const connection& conn, const range_request& r) {
  std::vector<stream_message> out;
  std::uint64_t seq = r.from_seq == 0 ? 1 : r.from_seq;
  while (seq <= r.to_seq) {
    auto next = next_message(conn, r.stream, r.subject, seq, r.timeout);
    if (!next) return next.error();
    if (!*next || (*next)->seq > r.to_seq) break;  // nothing on the subject in seq..to_seq
    if (out.size() == r.max_messages) return too_many(r);
    seq = (*next)->seq + 1;
    out.push_back(std::move(**next));
  }
  return out;
}

result<std::vector<stream_message>> by_consumer(const connection& conn, const range_request& r) {
  std::vector<stream_message> out;
  consumer_settings cs;
  cs.stream = r.stream;
  cs.filter_subject = r.subject;
  cs.start_seq = r.from_seq;
  auto started = ordered_consumer::start(conn, cs);
  if (!started) return started.error();
  auto& c = **started;
  // Nothing matching from from_seq on: return now rather than wait for a timeout.
  auto matching = c.matching_now();
  if (!matching) return matching.error();
  if (*matching == 0) return out;
  while (true) {
    auto m = c.next(r.timeout);
    if (!m) return m.error();
    if (!*m) {
      return error{errc::timeout, 0, 0,
                   "range consumer on '" + r.subject + "': nothing after " + std::to_string(c.last_delivered()) +
                       " within " + std::to_string(r.timeout.count()) + " ms"};
    }
    if ((*m)->seq > r.to_seq) break;
    if (out.size() == r.max_messages) return too_many(r);
    out.push_back(std::move(**m));
    if (c.pending() == 0 || out.back().seq == r.to_seq) break;
  }
  return out;
}

}  // namespace

result<std::optional<stream_message>> next_message(const connection& conn, const std::string& stream,
                                                   const std::string& subject, std::uint64_t seq,
                                                   std::chrono::milliseconds timeout) {
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.Sequence = seq == 0 ? 1 : seq;
  dg.NextBySubject = subject.c_str();
  return direct_get(conn, stream, dg, timeout, "direct get of '" + subject + "' from " + std::to_string(seq));
}

result<std::optional<stream_message>> last_message(const connection& conn, const std::string& stream,
                                                   const std::string& subject, std::chrono::milliseconds timeout) {
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.LastBySubject = subject.c_str();
  return direct_get(conn, stream, dg, timeout, "direct get of the last message of '" + subject + "'");
}

result<std::vector<stream_message>> fetch_range(const connection& conn, const range_request& request,
                                                fetch_method method) {
  if (request.stream.empty() || request.subject.empty() || request.from_seq > request.to_seq ||
      request.max_messages == 0 || request.timeout <= 0ms) {
    return error{errc::invalid_settings, 0, 0,
                 "range fetch: stream and subject are required, from_seq <= to_seq, max_messages and timeout > 0"};
  }
  return method == fetch_method::direct_get ? by_direct_get(conn, request) : by_consumer(conn, request);
}

}  // namespace rtcache::cluster
