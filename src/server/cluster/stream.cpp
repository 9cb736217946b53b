// ensure_stream and friends over nats.c's stream management API.
#include "cluster/stream.hpp"

#include "cluster/nats_handles.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace rtcache::cluster {

std::string stream_identity::to_string() const {
  return name + "@" + std::to_string(created_ns);
}

std::string_view to_string(ensure_outcome outcome) noexcept {
  switch (outcome) {
    case ensure_outcome::created: return "created";
    case ensure_outcome::updated: return "updated";
    case ensure_outcome::unchanged: return "unchanged";
  }
  return "unknown";
}

namespace {

using detail::make_error;
using detail::stream_info_ptr;

stream_state to_state(const jsStreamInfo& si) {
  stream_state st;
  st.identity.name = si.Config != nullptr && si.Config->Name != nullptr ? si.Config->Name : "";
  st.identity.created_ns = si.Created;
  st.first_seq = si.State.FirstSeq;
  st.last_seq = si.State.LastSeq;
  st.messages = si.State.Msgs;
  st.bytes = si.State.Bytes;
  st.first_time_ns = si.State.FirstTime;
  st.last_time_ns = si.State.LastTime;
  st.deleted = si.State.NumDeleted;
  st.consumers = si.State.Consumers;
  st.replicas = si.Config != nullptr ? si.Config->Replicas : 0;
  return st;
}

// Settings expressed as nats.c's config; the strings point into `settings` and `subjects`.
jsStreamConfig to_config(const stream_settings& settings, std::vector<const char*>& subjects) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  subjects.clear();
  for (const auto& subject : settings.subjects) subjects.push_back(subject.c_str());
  cfg.Name = settings.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Retention = js_LimitsPolicy;
  cfg.Discard = js_DiscardOld;
  cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(settings.max_age).count();
  cfg.MaxBytes = settings.max_bytes;
  cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(settings.duplicate_window).count();
  cfg.Storage = settings.storage == storage_kind::file ? js_FileStorage : js_MemoryStorage;
  cfg.Replicas = settings.replicas;
  cfg.AllowDirect = settings.allow_direct;
  return cfg;
}

bool same_subjects(const jsStreamConfig& have, const stream_settings& want) {
  if (have.SubjectsLen != static_cast<int>(want.subjects.size())) return false;
  std::vector<std::string> a(have.Subjects, have.Subjects + have.SubjectsLen);
  std::vector<std::string> b = want.subjects;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

bool matches(const jsStreamConfig& have, const jsStreamConfig& want, const stream_settings& settings) {
  return same_subjects(have, settings) && have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
         have.Duplicates == want.Duplicates && have.Replicas == want.Replicas && have.AllowDirect == want.AllowDirect &&
         have.Retention == want.Retention && have.Discard == want.Discard;
}

// The stream's info. A stream another connection is creating at this moment can be described without its creation
// time (seen with four nodes ensuring one stream at once: Stream.NodesEnsuringOneStreamAtOnceAllSucceed), and the
// identity every epoch derives from includes it: such an answer is read again, for up to about half a second.
result<stream_info_ptr> info(jsCtx* js, const std::string& stream, jsOptions* opts = nullptr) {
  for (int attempt = 0;; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_GetStreamInfo(&si, js, stream.c_str(), opts, &jerr);
    if (s == NATS_NOT_FOUND && jerr == 0) jerr = JSStreamNotFoundErr;
    if (s != NATS_OK) return make_error(s, jerr, "stream info of '" + stream + "'");
    stream_info_ptr got(si);
    if (got->Created != 0) return got;
    if (attempt == 100) {
      return error{errc::nats, 0, 0, "stream info of '" + stream + "': no creation time after 100 reads"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The state a create or an update answered with, read again when the answer lacks the creation time (see info()).
result<stream_state> answered_state(jsCtx* js, const std::string& stream, jsStreamInfo* answer) {
  stream_state st = to_state(*stream_info_ptr(answer));
  if (st.identity.created_ns != 0) return st;
  auto again = info(js, stream);
  if (!again) return again.error();
  return to_state(**again);
}

}  // namespace

result<ensured_stream> ensure_stream(const connection& conn, const stream_settings& settings) {
  if (auto problems = validate(settings); !problems.empty()) {
    std::string msg = "stream settings:";
    for (const auto& p : problems) msg += " " + p + ";";
    return error{errc::invalid_settings, 0, 0, msg};
  }
  jsCtx* js = conn.handles().js;
  std::vector<const char*> subjects;
  jsStreamConfig want = to_config(settings, subjects);

  auto existing = info(js, settings.name);
  if (!existing && existing.error().code != errc::stream_not_found) return existing.error();
  if (!existing) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_AddStream(&si, js, &want, nullptr, &jerr);
    if (s == NATS_OK) {
      auto created = answered_state(js, settings.name, si);
      if (!created) return created.error();
      return ensured_stream{ensure_outcome::created, std::move(*created)};
    }
    if (jerr != JSStreamNameExistErr && jerr != JSStreamSubjectOverlapErr) {
      return make_error(s, jerr, "creating stream '" + settings.name + "'");
    }
    // Another node created it between our look-up and our create: JetStream answers that race with either error
    // (the name, or its subjects, already taken). Compare (and update) below. When no stream of this name exists,
    // another stream owns the subjects: that error stands.
    existing = info(js, settings.name);
    if (!existing && existing.error().code == errc::stream_not_found) {
      return make_error(s, jerr, "creating stream '" + settings.name + "'");
    }
    if (!existing) return existing.error();
  }
  const jsStreamConfig& have = *(*existing)->Config;
  if (have.Storage != want.Storage) {
    return error{errc::stream_conflict, 0, 0,
                 "stream '" + settings.name + "' exists with " + (have.Storage == js_FileStorage ? "file" : "memory") +
                     " storage; JetStream cannot change the storage of a stream in place (re-create it)"};
  }
  if (matches(have, want, settings)) return ensured_stream{ensure_outcome::unchanged, to_state(**existing)};
  jsStreamInfo* si = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_UpdateStream(&si, js, &want, nullptr, &jerr);
  if (s != NATS_OK) return make_error(s, jerr, "updating stream '" + settings.name + "'");
  auto updated = answered_state(js, settings.name, si);
  if (!updated) return updated.error();
  return ensured_stream{ensure_outcome::updated, std::move(*updated)};
}

result<stream_state> get_stream_state(const connection& conn, const std::string& stream) {
  auto si = info(conn.handles().js, stream);
  if (!si) return si.error();
  return to_state(**si);
}

result<stream_state> get_stream_state(const connection& conn, const std::string& stream,
                                      std::chrono::milliseconds timeout) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout.count();
  auto si = info(conn.handles().js, stream, &jo);
  if (!si) return si.error();
  return to_state(**si);
}

result<std::vector<std::string>> stream_subjects(const connection& conn, const std::string& stream,
                                                 const std::string& filter, std::chrono::milliseconds timeout) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout.count();
  jo.Stream.Info.SubjectsFilter = filter.c_str();
  auto si = info(conn.handles().js, stream, &jo);
  if (!si) return si.error();
  std::vector<std::string> out;
  if (const jsStreamStateSubjects* list = (*si)->State.Subjects; list != nullptr) {
    for (int i = 0; i < list->Count; ++i) {
      if (list->List[i].Msgs > 0 && list->List[i].Subject != nullptr) out.emplace_back(list->List[i].Subject);
    }
  }
  return out;
}

result<void> purge_stream(const connection& conn, const std::string& stream) {
  jsErrCode jerr{};
  natsStatus s = js_PurgeStream(conn.handles().js, stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return make_error(s, jerr, "purging stream '" + stream + "'");
  return {};
}

result<void> delete_stream(const connection& conn, const std::string& stream) {
  jsErrCode jerr{};
  natsStatus s = js_DeleteStream(conn.handles().js, stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return make_error(s, jerr, "deleting stream '" + stream + "'");
  return {};
}

}  // namespace rtcache::cluster
