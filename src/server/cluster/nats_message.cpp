// natsMsg -> stream_message.
#include "cluster/nats_handles.hpp"

#include <cstdlib>

namespace rtcache::cluster::detail {

stream_message to_stream_message(natsMsg* msg, std::uint64_t seq, std::int64_t time_ns, bool strip_direct_get_headers) {
  stream_message out;
  out.seq = seq;
  out.time_ns = time_ns;
  if (const char* subject = natsMsg_GetSubject(msg)) out.subject = subject;
  if (const char* data = natsMsg_GetData(msg))
    out.data.assign(data, static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &key_count) == NATS_OK) {
    for (int k = 0; k < key_count; ++k) {
      const std::string_view key = keys[k];
      if (strip_direct_get_headers &&
          (key == "Nats-Stream" || key == "Nats-Sequence" || key == "Nats-Time-Stamp" || key == "Nats-Subject")) {
        continue;
      }
      const char** values = nullptr;
      int value_count = 0;
      if (natsMsgHeader_Values(msg, keys[k], &values, &value_count) == NATS_OK) {
        for (int v = 0; v < value_count; ++v) out.headers.push_back(header{std::string(key), values[v]});
        std::free(static_cast<void*>(values));
      }
    }
    std::free(static_cast<void*>(keys));
  }
  return out;
}

}  // namespace rtcache::cluster::detail
