// How long the source waits before reconnecting: core's back-off (rtcache/core/backoff.hpp), whose defaults
// are the source's (200 ms doubling to 30 s, half of each wait jittered away at random). Pure: the caller
// injects the random draw (source_config::random).
#pragma once

#include "rtcache/core/backoff.hpp"

namespace rtcache::pg {

using backoff_policy = core::backoff_policy;
using backoff = core::backoff;

}  // namespace rtcache::pg
