// Timed events of a run, the busy and idle time of each resource per round,
// and the lower bound on a round's time.
//
// A resource is the compute of the server, the compute of one client, or one
// client's uplink or downlink. Times are seconds on the clock shared by all
// ranks (see clock.hpp).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace pipar {

enum class Resource : std::int32_t { kServerCompute = 0, kClientCompute = 1, kUplink = 2, kDownlink = 3 };

enum class EventKind : std::int32_t {
  kForward = 0,
  kBackward = 1,
  kStep = 2,       // optimizer step
  kUpload = 3,     // a message on an uplink
  kDownload = 4,   // a message on a downlink
  kAggregate = 5,  // FedAvg on the server
  kEvaluate = 6,
  kLoadData = 7,
};

const char* to_string(EventKind kind);

struct Event {
  Resource resource = Resource::kServerCompute;
  std::int32_t client = 0;  // the client the work is for; 0 for the server's own work
  EventKind kind = EventKind::kForward;
  std::int32_t round = -1;
  std::int32_t batch = -1;
  std::int32_t micro_batch = -1;
  double start = 0.0;
  double end = 0.0;
};

// Number of doubles per event in encode_events() and in the results file.
constexpr std::size_t kEventFields = 8;

// Event columns: resource, client, kind, round, batch, micro_batch, start, end.
std::vector<double> encode_events(const std::vector<Event>& events);
std::vector<Event> decode_events(const double* values, std::size_t count);

// Events recorded by one rank; add() may be called from any thread.
class EventLog {
 public:
  void add(const Event& event);
  // Returns the events recorded so far and clears the log.
  std::vector<Event> take();

 private:
  std::mutex mutex_;
  std::vector<Event> events_;
};

// The order of resources in RoundAnalysis and in the results file:
// server compute, client 1..K compute, uplink 1..K, downlink 1..K.
std::vector<std::string> resource_names(int clients);
std::size_t resource_index(Resource resource, int client, int clients);

struct RoundAnalysis {
  double window_s = 0.0;          // the round's wall time
  std::vector<double> busy_s;     // per resource, in resource_names() order
  std::vector<double> idle_s;     // window_s - busy_s
  double lower_bound_s = 0.0;     // the largest busy_s: no schedule finishes faster
  double efficiency = 0.0;        // lower_bound_s / window_s
};

// Busy time of a resource is the length of the union of its events'
// intervals clipped to [start, end], so overlapping events count once.
RoundAnalysis analyze_round(const std::vector<Event>& events, int clients, double start, double end);

// Writes `events` as Chrome trace JSON (the Trace Event Format that Perfetto
// and chrome://tracing open): one track per resource, times in microseconds
// since `origin`. Throws InputError when the file cannot be written.
void write_chrome_trace(const std::string& path, const std::vector<Event>& events, int clients,
                        double origin);

}  // namespace pipar
