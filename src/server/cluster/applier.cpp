// The applier: the stream in order into the node's book and hub.
#include "cluster/applier.hpp"

#include "cluster/range_fetch.hpp"
#include "cluster/resume_start.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

namespace rtcache::cluster {

result<std::unique_ptr<applier>> applier::start(const connection& conn, hub::hub& target, epoch_deriver deriver,
                                                applier_settings settings) {
  if (settings.apply.prefix.empty()) settings.apply.prefix = settings.stream;
  auto state = get_stream_state(conn, settings.stream);
  if (!state) return state.error();
  std::unique_ptr<applier> a(new applier(conn, target, std::move(deriver), state->identity.to_string(),
                                         state->first_seq, std::move(settings)));
  a->identity_ = state->identity.to_string();
  if (auto started = a->start_consumer(a->settings_.start_seq); !started) return started.error();
  const std::uint64_t before = a->consumer_->last_delivered();
  a->last_applied_.store(before, std::memory_order_release);
  {
    sync::mutex_lock lock(a->mu_);
    a->applied_seq_ = before;
  }
  // The book is empty: whatever left the stream before the start was never this node's to lose.
  a->expected_ = std::max(before + 1, state->first_seq);
  // Nothing past the start: caught up at once (a message arriving later turns it false only while more pend).
  a->caught_up_.store(state->last_seq <= before, std::memory_order_release);
  return a;
}

result<void> applier::start_consumer(std::uint64_t start_seq) {
  consumer_settings cs;
  cs.stream = settings_.stream;
  cs.filter_subject = settings_.apply.prefix + ".*.>";
  cs.start_seq = start_seq;
  consumer_.reset();  // the old one first: one consumer of this node at a time
  auto consumer = ordered_consumer::start(conn_, std::move(cs));
  if (!consumer) return consumer.error();
  consumer_ = std::move(*consumer);
  return {};
}

applier::applier(const connection& conn, hub::hub& target, epoch_deriver deriver, std::string identity,
                 std::uint64_t first_seq, applier_settings settings)
    : conn_(conn),
      settings_(std::move(settings)),
      applier_(settings_.apply, std::move(deriver), std::move(identity), settings_.types, target),
      first_seq_(first_seq) {}

applier::~applier() {
  stop();
}

result<bool> applier::poll(std::chrono::milliseconds timeout) {
  if (restart_consumer_) {
    if (auto started = start_consumer(1); !started) return started.error();
    restart_consumer_ = false;
  }
  auto next = consumer_->next(timeout);
  if (!next) return next.error();
  if (!*next) {
    refresh_first_seq(true);
    return false;
  }
  const stream_message& m = **next;
  if (m.seq > expected_) {
    // Sequences were not delivered: either they match no subject of the filter, or they left the stream first.
    auto state = get_stream_state(conn_, settings_.stream);
    if (state && state->identity.to_string() != identity_) {
      // The message may be the new stream's or the old one's; the new stream is read again from its sequence 1.
      recreated(*state);
      return true;
    }
    // Unreadable: judged lost (a needless start over at worst, never a false continuity).
    if (!state || state->first_seq > expected_) lost(state ? state->first_seq : m.seq, "were not delivered");
  }
  // One lock per message; a channel the book forgot is looked up without it first (stream requests).
  core::result<void> applied;
  std::optional<parsed_subject> forgotten;
  {
    sync::mutex_lock lock(mu_);
    forgotten = applier_.forgotten_partition(m);
    if (!forgotten) {
      applied = applier_.apply(m, first_seq_);
      applied_seq_ = m.seq;
    }
  }
  if (forgotten) {
    look_up_forgotten(*forgotten, m.seq);
    sync::mutex_lock lock(mu_);
    applied = applier_.apply(m, first_seq_);
    applied_seq_ = m.seq;
  }
  if (!applied) {
    // The reason names the sequence and what is wrong, never the payload (which may hold a tenant's data).
    // A repeated source message is no fault of the message: the writer let a replay into the stream.
    const bool replay = applied.error().code == core::errc::duplicate_key;
    log_line(std::string(replay ? "rtcache cluster: error: stream message dropped: "
                                : "rtcache cluster: stream message refused and skipped: ") +
             applied.error().message);
  }
  if (settings_.stored_to_applied && m.time_ns > 0) {
    const auto since = settings_.wall_clock().time_since_epoch() - std::chrono::nanoseconds(m.time_ns);
    settings_.stored_to_applied(
        std::max(std::chrono::duration_cast<std::chrono::nanoseconds>(since), std::chrono::nanoseconds::zero()));
  }
  expected_ = std::max(expected_, m.seq + 1);
  lag_.store(consumer_->pending(), std::memory_order_release);
  last_applied_.store(m.seq, std::memory_order_release);
  caught_up_.store(consumer_->pending() == 0, std::memory_order_release);
  if (std::chrono::steady_clock::now() - refreshed_ >= settings_.first_seq_refresh) refresh_first_seq(false);
  return true;
}

void applier::refresh_first_seq(bool idle) {
  refreshed_ = std::chrono::steady_clock::now();
  auto state = get_stream_state(conn_, settings_.stream);
  if (!state) return;  // unreachable now (or deleted, not yet created again): the last known first sequence stands
  if (state->identity.to_string() != identity_) {
    recreated(*state);
    return;
  }
  // While messages arrive, one the consumer holds already may have left the stream since: the next message's
  // sequence decides then. Idle, nothing is on its way.
  if (idle && state->first_seq > expected_) lost(state->first_seq, "left the stream");
  {
    sync::mutex_lock lock(mu_);
    first_seq_ = state->first_seq;
  }
  if (state->last_seq <= last_applied()) caught_up_.store(true, std::memory_order_release);
}

void applier::lost(std::uint64_t first_seq, std::string_view how) {
  std::size_t views = 0;
  {
    sync::mutex_lock lock(mu_);
    first_seq_ = std::max(first_seq_, first_seq);
    views = applier_.reset(identity_, first_seq_);
    ++resets_;
  }
  losses_.fetch_add(1, std::memory_order_acq_rel);
  log_line("rtcache cluster: error: stream '" + settings_.stream + "' messages from seq " + std::to_string(expected_) +
           " to " + std::to_string(first_seq - 1) + " " + std::string(how) +
           " before this node applied them (retention or purge); its positions start over: " + std::to_string(views) +
           " views reset");
  expected_ = first_seq;
}

void applier::recreated(const stream_state& state) {
  const std::string identity = state.identity.to_string();
  std::size_t views = 0;
  {
    sync::mutex_lock lock(mu_);
    first_seq_ = state.first_seq;
    views = applier_.reset(identity, state.first_seq);
    applied_seq_ = 0;
    ++resets_;
  }
  recreated_.fetch_add(1, std::memory_order_acq_rel);
  log_line("rtcache cluster: error: stream '" + settings_.stream + "' was created again (identity " + identity_ +
           " -> " + identity + "); applying it from seq 1, its positions start over: " + std::to_string(views) +
           " views reset");
  identity_ = identity;
  expected_ = 1;
  last_applied_.store(0, std::memory_order_release);
  lag_.store(0, std::memory_order_release);
  caught_up_.store(state.last_seq == 0, std::memory_order_release);
  if (auto started = start_consumer(1); !started) restart_consumer_ = true;  // the next poll retries
}

void applier::log_line(const std::string& line) const {
  if (settings_.log) {
    settings_.log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void applier::run() {
  stopping_.store(false, std::memory_order_release);
  thread_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_acquire)) {
      auto r = poll(settings_.idle_poll);
      if (!r && r.error().code == errc::connection_closed) return;
      if (!r) std::this_thread::sleep_for(settings_.idle_poll);  // a consumer restart that failed: retried
    }
  });
}

void applier::stop() {
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

namespace {

// A channel message's stream sequence and position (its Rtcache-Pos header) for a partition search.
result<probed_message> probed(const stream_message& m) {
  const auto header = m.header_value(k_positions_header);
  if (!header)
    return error{errc::consumer_failed, 0, 0, "partition search: no position header at " + std::to_string(m.seq)};
  auto p = decode_position(*header, m.seq);
  if (!p) return error{errc::consumer_failed, 0, 0, "partition search: " + p.error().message};
  return probed_message{m.seq, p->state.generation, p->state.counter};
}

// What is left of a bound ending at `deadline`; a timeout error saying `what` ran out once nothing is.
result<std::chrono::milliseconds> time_left(std::chrono::steady_clock::time_point deadline, std::string_view what) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left <= std::chrono::milliseconds(0)) return error{errc::timeout, 0, 0, std::string(what) + ": out of time"};
  return left;
}

}  // namespace

partition_probe applier::probe_of(const std::string& subject, std::chrono::steady_clock::time_point deadline) const {
  return [this, subject, deadline](std::uint64_t seq) -> result<std::optional<probed_message>> {
    const auto left = time_left(deadline, "partition search");
    if (!left) return left.error();
    auto m = next_message(conn_, settings_.stream, subject, seq, *left);
    if (!m) return m.error();
    if (!*m) return std::optional<probed_message>();
    auto p = probed(**m);
    if (!p) return p.error();
    return std::optional<probed_message>(*p);
  };
}

void applier::look_up_forgotten(const parsed_subject& s, std::uint64_t before) {
  forgotten_lookups_.fetch_add(1, std::memory_order_acq_rel);
  const auto deadline = std::chrono::steady_clock::now() + settings_.lookup_timeout;
  const auto left = [&] { return time_left(deadline, "lookup"); };
  const cluster::subjects names{settings_.apply.prefix};
  std::uint64_t first = 0;
  {
    sync::mutex_lock lock(mu_);
    first = first_seq_;
  }
  // Every partition of the channel the stream holds a message of, but the message's own (it sets that one).
  const auto look = [&]() -> result<std::vector<std::pair<std::string, partition_state>>> {
    auto budget = left();
    if (!budget) return budget.error();
    auto listed = stream_subjects(conn_, settings_.stream, names.channel_wildcard(s.channel), *budget);
    if (!listed) return listed.error();
    std::vector<std::pair<std::string, partition_state>> found;
    for (const auto& subject : *listed) {
      auto p = parse_subject(settings_.apply.prefix, subject);
      if (!p || p->section != 'c' || p->channel != s.channel || p->factory == s.factory) continue;
      // Its last message before `before`: the subject's last one, unless this node is behind it; then by bisection.
      budget = left();
      if (!budget) return budget.error();
      auto tail = last_message(conn_, settings_.stream, subject, *budget);
      if (!tail) return tail.error();
      if (!*tail) continue;
      std::optional<probed_message> last;
      if ((*tail)->seq < before) {
        auto at = probed(**tail);
        if (!at) return at.error();
        last = *at;
      } else {
        auto searched = find_last_in(first, before - 1, probe_of(subject, deadline));
        if (!searched) return searched.error();
        last = *searched;
      }
      if (last) found.emplace_back(p->factory, partition_state{last->generation, last->counter, last->seq});
    }
    return found;
  };
  auto found = look();
  if (!found) {
    forgotten_lookups_failed_.fetch_add(1, std::memory_order_acq_rel);
    log_line("rtcache cluster: looking up the partitions of forgotten channel '" + s.channel + "' before seq " +
             std::to_string(before) + " failed (" + found.error().message +
             "); its positions count only the partitions of its messages from now on");
    return;
  }
  sync::mutex_lock lock(mu_);
  for (const auto& [factory, state] : *found) applier_.learn(s.channel, factory, state);
}

core::result<hub::hub_join> applier::join(std::string_view channel, const core::factory_scope& view,
                                          std::shared_ptr<hub::hub_subscriber> subscriber,
                                          const std::optional<hub::hub_position>& resume) {
  if (resume && settings_.resume_max_messages != 0) return join_fetching(channel, view, std::move(subscriber), *resume);
  sync::mutex_lock lock(mu_);
  return applier_.join(channel, view, std::move(subscriber), resume, first_seq_);
}

core::result<hub::hub_join> applier::join_fetching(std::string_view channel, const core::factory_scope& view,
                                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                                   const hub::hub_position& resume) {
  const std::optional<hub::hub_position> resume_at = resume;
  std::uint64_t from = 0;
  std::uint64_t upto = 0;
  std::uint64_t resets = 0;
  std::vector<std::string> subjects;
  std::vector<resume_target> targets;
  {
    sync::mutex_lock lock(mu_);
    if (!applier_.resume_needs_fetch(channel, view, resume, first_seq_)) {
      return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
    }
    from = std::max<std::uint64_t>(first_seq_, 1);
    upto = applied_seq_;
    resets = resets_;
    subjects = applier_.view_subjects(channel, view);
    // resume_needs_fetch: the resume is in the view's current epoch, behind its current offset.
    const std::uint64_t missed = applier_.position_of(channel, view, first_seq_).offset - resume.offset;
    if (const channel_entry* entry = applier_.book().find(channel)) {
      targets = resume_targets(entry->state, view, first_seq_, missed);
    }
  }
  resume_fetches_.fetch_add(1, std::memory_order_acq_rel);
  const auto deadline = std::chrono::steady_clock::now() + settings_.resume_timeout;
  // The fetch starts at the first message the client can lack (resume_start.hpp), found by direct gets on each
  // partition's subject; if that fails, or the view admits too many partitions to search, at the stream's first
  // sequence as the walk allows too.
  if (!targets.empty() && targets.size() <= k_max_searched_partitions) {
    const cluster::subjects names{settings_.apply.prefix};
    std::uint64_t start = std::numeric_limits<std::uint64_t>::max();
    for (const auto& t : targets) {
      auto found = find_resume_target(t, from, probe_of(names.partition(channel, t.factory), deadline));
      if (!found) {
        start = from;
        break;
      }
      start = std::min(start, *found);
    }
    if (start != std::numeric_limits<std::uint64_t>::max()) from = std::clamp(start, from, std::max(from, upto));
  }
  std::vector<stream_message> fetched;
  // The view's messages with sequences lo..hi appended to `fetched`, within the deadline and the bound.
  const auto fetch = [&](std::uint64_t lo, std::uint64_t hi) -> result<void> {
    if (lo > hi) return {};
    for (const auto& subject : subjects) {
      const auto left = time_left(deadline, "resume fetch");
      if (!left) return left.error();
      range_request r;
      r.stream = settings_.stream;
      r.subject = subject;
      r.from_seq = lo;
      r.to_seq = hi;
      const std::size_t room = settings_.resume_max_messages - std::min(fetched.size(), settings_.resume_max_messages);
      r.max_messages = std::max<std::size_t>(room, 1);
      r.timeout = *left;
      auto got = fetch_range(conn_, r);
      if (!got) return got.error();
      if (room == 0 && !got->empty()) return error{errc::too_many, 0, 0, "resume fetch: over its bound"};
      for (auto& m : *got) fetched.push_back(std::move(m));
    }
    return {};
  };
  const auto failed = [&](const error& e) {
    (e.code == errc::too_many ? resume_too_many_ : resume_failed_).fetch_add(1, std::memory_order_acq_rel);
  };
  if (auto first = fetch(from, upto); !first) {
    failed(first.error());
    sync::mutex_lock lock(mu_);
    return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
  }
  for (int round = 0;; ++round) {
    std::uint64_t next = 0;
    {
      sync::mutex_lock lock(mu_);
      if (resets_ != resets) {
        resume_failed_.fetch_add(1, std::memory_order_acq_rel);  // what was fetched may be of another incarnation
        return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
      }
      next = applied_seq_;
      // Whether the applier applied a message of the channel after what was fetched: the book's entry names the
      // latest (a channel it no longer holds may have had one). Without one, the fetch is complete as it is.
      const channel_entry* entry = applier_.book().find(channel);
      const bool moved = next != upto && (entry == nullptr || entry->seq > upto);
      if (!moved || round >= 3) {
        // The last round under the lock: the applier waits for the few messages of the channel it applied
        // meanwhile, if any (others are not the view's).
        if (auto rest = moved ? fetch(upto + 1, next) : result<void>{}; !rest) {
          failed(rest.error());
          return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
        }
        replay_outcome outcome = replay_outcome::not_passed;
        auto answer = applier_.join_replayed(channel, view, subscriber, resume, first_seq_, fetched, from, outcome);
        if (outcome == replay_outcome::recovered) resume_recovered_.fetch_add(1, std::memory_order_acq_rel);
        if (answer) return std::move(*answer);
        return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
      }
    }
    if (auto more = fetch(upto + 1, next); !more) {
      failed(more.error());
      sync::mutex_lock lock(mu_);
      return applier_.join(channel, view, std::move(subscriber), resume_at, first_seq_);
    }
    upto = next;
  }
}

hub::hub_position applier::position_of(std::string_view channel, const core::factory_scope& view) {
  sync::mutex_lock lock(mu_);
  return applier_.position_of(channel, view, first_seq_);
}

applier_stats applier::stats() const {
  applier_stats out;
  out.last_applied = last_applied();
  out.lag = lag();
  out.losses = losses_.load(std::memory_order_acquire);
  out.streams_recreated = recreated_.load(std::memory_order_acquire);
  out.resume_fetches = resume_fetches_.load(std::memory_order_acquire);
  out.resume_recovered = resume_recovered_.load(std::memory_order_acquire);
  out.resume_too_many = resume_too_many_.load(std::memory_order_acquire);
  out.resume_failed = resume_failed_.load(std::memory_order_acquire);
  out.forgotten_lookups = forgotten_lookups_.load(std::memory_order_acquire);
  out.forgotten_lookups_failed = forgotten_lookups_failed_.load(std::memory_order_acquire);
  sync::mutex_lock lock(mu_);
  out.apply = applier_.stats();
  return out;
}

}  // namespace rtcache::cluster
