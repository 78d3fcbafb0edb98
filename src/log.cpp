// Rank-prefixed logging to stderr.
#include "pipar/log.hpp"

#include <cstdio>
#include <mutex>

#include "pipar/error.hpp"

namespace pipar::log {
namespace {

// Written once by configure() before any other thread starts; read-only after.
struct Settings {
  std::string prefix = "[pipar] ";
  Level level = Level::kInfo;
};

Settings& settings() {
  static Settings instance;
  return instance;
}

std::mutex& output_mutex() {
  static std::mutex mutex;
  return mutex;
}

const char* level_tag(Level level) {
  switch (level) {
    case Level::kError:
      return "error: ";
    case Level::kWarning:
      return "warning: ";
    default:
      return "";
  }
}

}  // namespace

void configure(int rank, const std::string& role, Level level) {
  settings().prefix = "[rank " + std::to_string(rank) + "/" + role + "] ";
  settings().level = level;
}

Level parse_level(const std::string& name) {
  if (name == "error") return Level::kError;
  if (name == "warning") return Level::kWarning;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  throw InputError("invalid log level '" + name + "'; use error, warning, info or debug");
}

bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(settings().level); }

void write(Level level, const std::string& message) {
  const std::string line = settings().prefix + level_tag(level) + message + "\n";
  std::lock_guard<std::mutex> lock(output_mutex());
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace pipar::log
