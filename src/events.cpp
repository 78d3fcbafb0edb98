// Event log, per-round resource analysis and Chrome trace export.
#include "pipar/events.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "pipar/error.hpp"

namespace pipar {

const char* to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kForward:
      return "forward";
    case EventKind::kBackward:
      return "backward";
    case EventKind::kStep:
      return "optimizer step";
    case EventKind::kUpload:
      return "upload";
    case EventKind::kDownload:
      return "download";
    case EventKind::kAggregate:
      return "aggregate";
    case EventKind::kEvaluate:
      return "evaluate";
    case EventKind::kLoadData:
      return "load data";
  }
  return "unknown";
}

std::vector<double> encode_events(const std::vector<Event>& events) {
  std::vector<double> values;
  values.reserve(events.size() * kEventFields);
  for (const Event& event : events) {
    values.insert(values.end(), {static_cast<double>(event.resource), static_cast<double>(event.client),
                                 static_cast<double>(event.kind), static_cast<double>(event.round),
                                 static_cast<double>(event.batch),
                                 static_cast<double>(event.micro_batch), event.start, event.end});
  }
  return values;
}

std::vector<Event> decode_events(const double* values, std::size_t count) {
  if (count % kEventFields != 0) {
    throw std::invalid_argument("event data of " + std::to_string(count) +
                                " values is not a whole number of events");
  }
  std::vector<Event> events;
  for (std::size_t i = 0; i < count; i += kEventFields) {
    Event event;
    event.resource = static_cast<Resource>(static_cast<int>(values[i]));
    event.client = static_cast<std::int32_t>(values[i + 1]);
    event.kind = static_cast<EventKind>(static_cast<int>(values[i + 2]));
    event.round = static_cast<std::int32_t>(values[i + 3]);
    event.batch = static_cast<std::int32_t>(values[i + 4]);
    event.micro_batch = static_cast<std::int32_t>(values[i + 5]);
    event.start = values[i + 6];
    event.end = values[i + 7];
    events.push_back(event);
  }
  return events;
}

void EventLog::add(const Event& event) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(event);
}

std::vector<Event> EventLog::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Event> taken;
  taken.swap(events_);
  return taken;
}

std::vector<std::string> resource_names(int clients) {
  std::vector<std::string> names{"server compute"};
  for (int c = 1; c <= clients; ++c) names.push_back("client " + std::to_string(c) + " compute");
  for (int c = 1; c <= clients; ++c) names.push_back("uplink " + std::to_string(c));
  for (int c = 1; c <= clients; ++c) names.push_back("downlink " + std::to_string(c));
  return names;
}

std::size_t resource_index(Resource resource, int client, int clients) {
  switch (resource) {
    case Resource::kServerCompute:
      return 0;
    case Resource::kClientCompute:
      return static_cast<std::size_t>(client);
    case Resource::kUplink:
      return static_cast<std::size_t>(clients + client);
    case Resource::kDownlink:
      return static_cast<std::size_t>(2 * clients + client);
  }
  throw std::invalid_argument("unknown resource " + std::to_string(static_cast<int>(resource)));
}

namespace {

// Length of the union of `intervals`, each clipped to [start, end].
double union_length(std::vector<std::pair<double, double>> intervals, double start, double end) {
  std::sort(intervals.begin(), intervals.end());
  double total = 0.0;
  double covered_until = start;
  for (auto [begin, finish] : intervals) {
    begin = std::max({begin, start, covered_until});
    finish = std::min(finish, end);
    if (finish > begin) {
      total += finish - begin;
      covered_until = finish;
    }
  }
  return total;
}

}  // namespace

RoundAnalysis analyze_round(const std::vector<Event>& events, int clients, double start, double end) {
  const std::size_t resources = static_cast<std::size_t>(1 + 3 * clients);
  std::vector<std::vector<std::pair<double, double>>> intervals(resources);
  for (const Event& event : events) {
    const bool known_client = event.client >= 0 && event.client <= clients &&
                              (event.resource == Resource::kServerCompute || event.client >= 1);
    if (!known_client) continue;
    intervals[resource_index(event.resource, event.client, clients)].emplace_back(event.start,
                                                                                  event.end);
  }

  RoundAnalysis analysis;
  analysis.window_s = end - start;
  for (std::size_t r = 0; r < resources; ++r) {
    const double busy = union_length(intervals[r], start, end);
    analysis.busy_s.push_back(busy);
    analysis.idle_s.push_back(analysis.window_s - busy);
    analysis.lower_bound_s = std::max(analysis.lower_bound_s, busy);
  }
  analysis.efficiency = analysis.window_s > 0.0 ? analysis.lower_bound_s / analysis.window_s : 0.0;
  return analysis;
}

void write_chrome_trace(const std::string& path, const std::vector<Event>& events, int clients,
                        double origin) {
  std::ofstream out(path);
  if (!out) {
    throw InputError("cannot write trace file " + path + "; choose a writable --trace path");
  }
  out << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  const auto names = resource_names(clients);
  for (std::size_t r = 0; r < names.size(); ++r) {
    out << "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":" << r
        << ",\"args\":{\"name\":\"" << names[r] << "\"}},\n";
    out << "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":" << r
        << ",\"args\":{\"sort_index\":" << r << "}},\n";
  }
  char line[512];
  for (const Event& event : events) {
    if (event.client < 0 || event.client > clients) continue;
    if (event.resource != Resource::kServerCompute && event.client < 1) continue;
    const double start_us = (event.start - origin) * 1e6;
    const double duration_us = std::max(0.0, (event.end - event.start) * 1e6);
    std::snprintf(line, sizeof(line),
                  "{\"ph\":\"X\",\"pid\":1,\"tid\":%zu,\"name\":\"%s\",\"ts\":%.3f,\"dur\":%.3f,"
                  "\"args\":{\"client\":%d,\"round\":%d,\"batch\":%d,\"micro_batch\":%d}},\n",
                  resource_index(event.resource, event.client, clients), to_string(event.kind),
                  start_us, duration_us, event.client, event.round, event.batch, event.micro_batch);
    out << line;
  }
  // A last metadata record, so every event line above may end with a comma.
  out << "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"args\":{\"name\":\"pipar\"}}\n]}\n";
  if (!out) throw InputError("failed to write trace file " + path + "; check the free disk space");
}

}  // namespace pipar
