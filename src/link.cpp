// Emulated network links: bandwidth schedules, FIFO queueing per link and the
// bandwidth trace reader.
#include "pipar/link.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "pipar/error.hpp"

namespace pipar {
namespace {

constexpr double kBitsPerMegabit = 1e6;
constexpr double kBitsPerByte = 8.0;
constexpr double kNever = -std::numeric_limits<double>::infinity();

const char* const kTraceHeader = "time_s,client,uplink_mbps,downlink_mbps";
constexpr std::size_t kTraceFields = 4;

// Formats a double with the fewest digits that read back as the same value,
// so that two different times never print alike.
std::string format_number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

const char* direction_name(Direction direction) {
  return direction == Direction::kUplink ? "uplink" : "downlink";
}

std::size_t direction_index(Direction direction) {
  return direction == Direction::kUplink ? 0 : 1;
}

}  // namespace

// ---------------------------------------------------------------------------
// BandwidthSchedule

BandwidthSchedule::BandwidthSchedule(double mbps) : initial_mbps_(mbps) {
  if (!std::isfinite(mbps) || mbps < 0.0) {
    throw std::invalid_argument("invalid bandwidth " + format_number(mbps) +
                                " Mbit/s: expected a finite value >= 0 (0 = unlimited)");
  }
}

void BandwidthSchedule::add_point(double time_s, double mbps) {
  if (!std::isfinite(time_s) || time_s < 0.0) {
    throw std::invalid_argument("invalid bandwidth change time " + format_number(time_s) +
                                " s: expected a finite time >= 0");
  }
  if (!std::isfinite(mbps) || mbps <= 0.0) {
    throw std::invalid_argument("invalid bandwidth " + format_number(mbps) + " Mbit/s at " +
                                format_number(time_s) + " s: expected a finite value > 0");
  }
  points_[time_s] = mbps;
}

double BandwidthSchedule::rate_at(double time_s) const {
  const auto after = points_.upper_bound(time_s);
  if (after == points_.begin()) return initial_mbps_;
  return std::prev(after)->second;
}

bool BandwidthSchedule::unlimited_at(double time_s) const { return rate_at(time_s) == 0.0; }

double BandwidthSchedule::finish_time(double start_s, double bits) const {
  if (!std::isfinite(bits) || bits < 0.0) {
    throw std::invalid_argument("invalid message size " + format_number(bits) +
                                " bits: expected a finite value >= 0");
  }
  double time_s = start_s;
  double remaining_bits = bits;
  double mbps = rate_at(start_s);
  auto next_change = points_.upper_bound(start_s);

  // Walk the constant pieces from start_s until the remaining bits fit into
  // one. Only the rate before the first point can be 0 (unlimited), because
  // add_point requires a rate > 0.
  while (mbps > 0.0) {
    const double bits_per_s = mbps * kBitsPerMegabit;
    if (next_change == points_.end()) return time_s + remaining_bits / bits_per_s;

    const double piece_bits = (next_change->first - time_s) * bits_per_s;
    if (remaining_bits <= piece_bits) return time_s + remaining_bits / bits_per_s;

    remaining_bits -= piece_bits;
    time_s = next_change->first;
    mbps = next_change->second;
    ++next_change;
  }
  return time_s;
}

// ---------------------------------------------------------------------------
// NetworkEmulator

NetworkEmulator::NetworkEmulator(std::vector<LinkSettings> clients, bool half_duplex,
                                 double origin_s)
    : settings_(std::move(clients)),
      states_(settings_.size(), ClientState{{kNever, kNever}, {kNever, kNever}}),
      half_duplex_(half_duplex),
      origin_s_(origin_s) {
  if (!std::isfinite(origin_s)) {
    throw std::invalid_argument("invalid origin time " + format_number(origin_s) +
                                " s: expected a finite time");
  }
  for (std::size_t i = 0; i < settings_.size(); ++i) {
    const double latency_s = settings_[i].latency_s;
    if (!std::isfinite(latency_s) || latency_s < 0.0) {
      throw std::invalid_argument("invalid latency " + format_number(latency_s) +
                                  " s for client " + std::to_string(i + 1) +
                                  ": expected a finite value >= 0");
    }
  }
}

Transmission NetworkEmulator::transmit(int client, Direction direction, double post_s,
                                       std::int64_t bytes) {
  if (client < 1 || client > clients()) {
    throw std::out_of_range("unknown client " + std::to_string(client) + ": expected 1.." +
                            std::to_string(clients()));
  }
  if (bytes < 0) {
    throw std::invalid_argument("invalid message size " + std::to_string(bytes) +
                                " bytes: expected >= 0");
  }
  if (!std::isfinite(post_s)) {
    throw std::invalid_argument("invalid post time " + format_number(post_s) +
                                " s: expected a finite time");
  }

  const LinkSettings& settings = settings_[static_cast<std::size_t>(client - 1)];
  ClientState& state = states_[static_cast<std::size_t>(client - 1)];
  const std::size_t direction_slot = direction_index(direction);
  double& last_post_s = state.last_post_s[direction_slot];
  if (post_s < last_post_s) {
    throw std::invalid_argument(
        "client " + std::to_string(client) + " " + direction_name(direction) +
        ": message posted at " + format_number(post_s) + " s, before the previous one at " +
        format_number(last_post_s) + " s; post the messages of one direction in time order");
  }
  last_post_s = post_s;

  double& channel_free_s = state.channel_free_s[half_duplex_ ? 0 : direction_slot];
  const BandwidthSchedule& schedule =
      direction == Direction::kUplink ? settings.uplink : settings.downlink;

  // The schedule counts from the origin. Adding the duration, rather than
  // converting the end back, keeps end == start exactly for an unlimited link.
  Transmission result;
  result.start = std::max(post_s, channel_free_s);
  const double start_since_origin_s = result.start - origin_s_;
  const double bits = static_cast<double>(bytes) * kBitsPerByte;
  const double duration_s = schedule.finish_time(start_since_origin_s, bits) - start_since_origin_s;
  result.end = result.start + duration_s;
  result.arrival = result.end + settings.latency_s;
  channel_free_s = result.end;
  return result;
}

int NetworkEmulator::clients() const { return static_cast<int>(settings_.size()); }

bool NetworkEmulator::half_duplex() const { return half_duplex_; }

// ---------------------------------------------------------------------------
// Bandwidth trace

namespace {

struct TraceRow {
  double time_s;
  int client;  // 0 = every client
  double uplink_mbps;
  double downlink_mbps;
};

// Throws an InputError for a problem at one line of the trace, in the usual
// path:line: form.
[[noreturn]] void fail_at(const std::string& path, int line_number, const std::string& problem) {
  throw InputError(path + ":" + std::to_string(line_number) + ": " + problem);
}

std::string trim(const std::string& text) {
  const char* const blanks = " \t\r\n";
  const std::size_t first = text.find_first_not_of(blanks);
  if (first == std::string::npos) return "";
  const std::size_t last = text.find_last_not_of(blanks);
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = line.find(',', begin);
    fields.push_back(trim(line.substr(begin, comma - begin)));
    if (comma == std::string::npos) return fields;
    begin = comma + 1;
  }
}

// Parses a whole field as a finite number. std::from_chars ignores the locale,
// so '.' is always the decimal point.
bool parse_number(const std::string& field, double& value) {
  const char* const end = field.data() + field.size();
  const auto result = std::from_chars(field.data(), end, value);
  return result.ec == std::errc() && result.ptr == end && std::isfinite(value);
}

double parse_time(const std::string& path, int line_number, const std::string& field) {
  double time_s = 0.0;
  if (!parse_number(field, time_s)) {
    fail_at(path, line_number,
            "invalid time_s '" + field + "': expected a finite number of seconds");
  }
  if (time_s < 0.0) {
    fail_at(path, line_number,
            "invalid time_s '" + field + "': expected a time >= 0 s since the start of training");
  }
  return time_s;
}

int parse_client(const std::string& path, int line_number, const std::string& field,
                 int client_count) {
  const std::string expected =
      "expected 0 (every client) or a client 1.." + std::to_string(client_count);
  const char* const end = field.data() + field.size();
  long long client = 0;
  const auto result = std::from_chars(field.data(), end, client);
  if (result.ec == std::errc::invalid_argument || result.ptr != end) {
    fail_at(path, line_number, "invalid client '" + field + "': " + expected);
  }
  if (result.ec != std::errc() || client < 0 || client > client_count) {
    fail_at(path, line_number, "client '" + field + "' out of range: " + expected);
  }
  return static_cast<int>(client);
}

double parse_bandwidth(const std::string& path, int line_number, const std::string& name,
                       const std::string& field) {
  double mbps = 0.0;
  if (!parse_number(field, mbps)) {
    fail_at(path, line_number,
            "invalid " + name + " '" + field + "': expected a finite number of Mbit/s");
  }
  if (mbps <= 0.0) {
    fail_at(path, line_number,
            "invalid " + name + " '" + field + "': expected a bandwidth > 0 Mbit/s");
  }
  return mbps;
}

void check_header(const std::string& path, int line_number, const std::string& line) {
  const std::vector<std::string> fields = split_fields(line);
  if (fields != split_fields(kTraceHeader)) {
    fail_at(path, line_number,
            "invalid header '" + trim(line) + "': expected '" + kTraceHeader + "'");
  }
}

TraceRow parse_row(const std::string& path, int line_number, const std::string& line,
                   int client_count) {
  const std::vector<std::string> fields = split_fields(line);
  if (fields.size() != kTraceFields) {
    fail_at(path, line_number,
            "expected " + std::to_string(kTraceFields) + " comma-separated fields (" +
                kTraceHeader + "), got " + std::to_string(fields.size()));
  }
  TraceRow row;
  row.time_s = parse_time(path, line_number, fields[0]);
  row.client = parse_client(path, line_number, fields[1], client_count);
  row.uplink_mbps = parse_bandwidth(path, line_number, "uplink_mbps", fields[2]);
  row.downlink_mbps = parse_bandwidth(path, line_number, "downlink_mbps", fields[3]);
  return row;
}

std::ifstream open_trace(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw InputError("bandwidth trace not found: " + path + "; check the path");
  }
  if (std::filesystem::is_directory(path, error)) {
    throw InputError("bandwidth trace " + path + " is a directory; expected a CSV file");
  }
  std::ifstream in(path);
  if (!in) throw InputError("cannot open bandwidth trace " + path + "; check its permissions");
  return in;
}

// Reads and checks every row of the trace, without applying any.
std::vector<TraceRow> read_trace(const std::string& path, int client_count) {
  std::ifstream in = open_trace(path);
  std::vector<TraceRow> rows;
  bool header_seen = false;
  int line_number = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#') continue;

    if (!header_seen) {
      check_header(path, line_number, content);
      header_seen = true;
    } else {
      rows.push_back(parse_row(path, line_number, content, client_count));
    }
  }
  if (in.bad()) throw InputError("failed to read bandwidth trace " + path);
  if (!header_seen) {
    throw InputError("bandwidth trace " + path + " has no header line; expected '" +
                     kTraceHeader + "' before the first row");
  }
  return rows;
}

}  // namespace

void apply_bandwidth_trace(const std::string& path, std::vector<LinkSettings>& clients) {
  const std::vector<TraceRow> rows = read_trace(path, static_cast<int>(clients.size()));

  // Rows apply in file order, so a later row for the same time and client
  // replaces an earlier one.
  for (const TraceRow& row : rows) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (row.client != 0 && static_cast<std::size_t>(row.client) != i + 1) continue;
      clients[i].uplink.add_point(row.time_s, row.uplink_mbps);
      clients[i].downlink.add_point(row.time_s, row.downlink_mbps);
    }
  }
}

}  // namespace pipar
