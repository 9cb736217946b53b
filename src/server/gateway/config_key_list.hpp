// The serve config's keys as docs show them, generated from the one table the readers use
// (src/server/gateway/config_keys.cpp), so the key list in docs/operations.md cannot drift from the code.
#pragma once

#include <string>

namespace rtcache::gateway {

// Every key of the file, one Markdown table row each: `[section] key`, type and bounds, RTCACHE_* variable,
// default, meaning. `rtcache config-keys` prints it; docs/operations.md ("Config keys") holds it verbatim,
// which ConfigKeys.DocsOperationsHoldsTheKeyTable checks.
std::string config_keys_markdown();

}  // namespace rtcache::gateway
