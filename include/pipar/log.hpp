// Rank-prefixed logging to stderr.
//
// Every line starts with "[rank r/role]", built once by configure(). Rank 0
// logs progress at info level; the other ranks print info and debug lines
// only when the level is raised to debug. Errors and warnings print on every
// rank. Results never go through the logger.
#pragma once

#include <sstream>
#include <string>

namespace pipar::log {

enum class Level { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// Sets the prefix and the level. Call once per process, before logging.
void configure(int rank, const std::string& role, Level level);

// Parses "error", "warning", "info" or "debug"; throws InputError otherwise.
Level parse_level(const std::string& name);

bool enabled(Level level);
void write(Level level, const std::string& message);

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream stream;
  (stream << ... << parts);
  return stream.str();
}

template <typename... Parts>
void error(const Parts&... parts) {
  write(Level::kError, concat(parts...));
}
template <typename... Parts>
void warning(const Parts&... parts) {
  if (enabled(Level::kWarning)) write(Level::kWarning, concat(parts...));
}
template <typename... Parts>
void info(const Parts&... parts) {
  if (enabled(Level::kInfo)) write(Level::kInfo, concat(parts...));
}
template <typename... Parts>
void debug(const Parts&... parts) {
  if (enabled(Level::kDebug)) write(Level::kDebug, concat(parts...));
}

}  // namespace pipar::log
