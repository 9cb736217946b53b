// How every fuzz target in fuzz/ reports a broken property: FUZZ_CHECK(condition, what it means[, bytes])
// prints the target's file and line, the property and the bytes under test (hex) to stderr, then traps, so
// libFuzzer records the input as a crash and keeps it as a reproducer. Without `bytes` it prints the run's
// whole input, registered by fuzz_input() at the top of LLVMFuzzerTestOneInput.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace rtcache::fuzz {

// The input of the current run (one thread: libFuzzer runs one input at a time per process).
inline std::string_view& current_input() noexcept {
  static std::string_view input;
  return input;
}

// Registers the run's input for reports and returns it as text.
inline std::string_view fuzz_input(const std::uint8_t* data, std::size_t size) noexcept {
  current_input() = std::string_view(reinterpret_cast<const char*>(data), size);
  return current_input();
}

[[noreturn]] inline void violated(const char* what, const char* condition, const char* file, int line,
                                  std::string_view bytes, const char* label = "bytes checked") noexcept {
  std::string_view name(file);
  if (const auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::fprintf(stderr, "%.*s:%d: property violated: %s%s%s\n%s (%zu bytes): ", static_cast<int>(name.size()),
               name.data(), line, what, *what != '\0' ? ": " : "", condition, label, bytes.size());
  for (const char c : bytes) std::fprintf(stderr, "%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
  std::fprintf(stderr, "\n");
  __builtin_trap();
}

[[noreturn]] inline void violated(const char* what, const char* condition, const char* file, int line) noexcept {
  violated(what, condition, file, line, current_input(), "input");
}

}  // namespace rtcache::fuzz

// FUZZ_CHECK(condition, "what the condition means") or FUZZ_CHECK(condition, "...", bytes): `bytes` (anything
// convertible to std::string_view) is printed instead of the whole input, e.g. the one frame or token checked.
#define FUZZ_CHECK(cond, what, ...)                                                                       \
  do {                                                                                                    \
    if (!(cond)) ::rtcache::fuzz::violated((what), #cond, __FILE__, __LINE__ __VA_OPT__(, ) __VA_ARGS__); \
  } while (false)
