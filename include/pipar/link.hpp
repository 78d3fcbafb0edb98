// Emulated network links between the server and its clients: when a message
// of a given size, posted at a given time, occupies its link and when it
// arrives, under a bandwidth that may change over time. The transport uses
// these times to hold each message back until its emulated arrival. This file
// needs neither MPI nor LibTorch.
//
// Units: times in seconds, bandwidth in Mbit/s (1 Mbit = 1e6 bits), sizes in
// bytes. Schedule times count from the origin (the start of training), while
// NetworkEmulator takes and returns absolute times on the clock shared by all
// ranks.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pipar {

// Piecewise-constant bandwidth over time. A rate of 0 means unlimited: a
// transmission takes no time.
class BandwidthSchedule {
 public:
  // Constant rate `mbps` (>= 0, where 0 means unlimited) until the first
  // point, or at all times if there is none. Throws std::invalid_argument on
  // a negative or non-finite rate.
  explicit BandwidthSchedule(double mbps = 0.0);

  // Sets the rate from `time_s` (>= 0, since origin) until the next point.
  // Points may be added in any order, and a later point at the same time
  // replaces the earlier one. Throws std::invalid_argument unless `mbps` > 0
  // and both values are finite.
  void add_point(double time_s, double mbps);

  // Returns the rate in Mbit/s in effect at `time_s`: the constructor's rate
  // before the first point.
  double rate_at(double time_s) const;
  bool unlimited_at(double time_s) const;

  // Returns the time at which the last of `bits` bits that start at
  // `start_s` has left, integrating the rate over its constant pieces.
  // Throws std::invalid_argument on a negative or non-finite `bits`.
  double finish_time(double start_s, double bits) const;

 private:
  double initial_mbps_;
  std::map<double, double> points_;  // start time (s) -> rate (Mbit/s)
};

// The times of one message on its link, all absolute seconds.
struct Transmission {
  double start = 0;    // when the first bit enters the link (after queueing)
  double end = 0;      // when the last bit has left the sender: the link is busy in [start, end)
  double arrival = 0;  // end + latency: when the receiver may see the message
};

enum class Direction { kUplink, kDownlink };

// One client's links.
struct LinkSettings {
  BandwidthSchedule uplink;    // client -> server
  BandwidthSchedule downlink;  // server -> client
  double latency_s = 0.0;      // one way, both directions
};

// All links between the server and K clients. Each direction of a client is
// a FIFO queue. In half duplex both directions of a client share one channel,
// and each message still uses the bandwidth of its own direction.
// Not thread-safe: the caller serialises the calls.
class NetworkEmulator {
 public:
  // `clients[c - 1]` contains the links of client c. `origin_s` is the
  // absolute time of schedule time 0. Throws std::invalid_argument on a
  // negative or non-finite latency or a non-finite origin.
  NetworkEmulator(std::vector<LinkSettings> clients, bool half_duplex, double origin_s);

  // Queues a message of `bytes` bytes, posted at absolute time `post_s`, on
  // the link of client `client` (1..K) in `direction`, and returns its times.
  // The message starts at `post_s` or, if the channel is still busy, when the
  // message before it has ended.
  // Throws std::out_of_range on an unknown client. Throws
  // std::invalid_argument on negative bytes, a non-finite post time, or a
  // post time earlier than that of the previous message in the same
  // direction of that client (the message names both times).
  Transmission transmit(int client, Direction direction, double post_s, std::int64_t bytes);

  int clients() const;
  bool half_duplex() const;

 private:
  struct ClientState {
    // Post time of the last message, indexed 0 for uplink and 1 for downlink.
    std::array<double, 2> last_post_s;
    // Time at which each channel is free again, indexed like last_post_s.
    // Half duplex has one channel per client and uses only index 0.
    std::array<double, 2> channel_free_s;
  };

  std::vector<LinkSettings> settings_;
  std::vector<ClientState> states_;
  bool half_duplex_;
  double origin_s_;
};

// Reads a bandwidth trace and applies it to `clients` (size K, clients[c - 1]
// for client c) with add_point on both directions.
//
// The trace is a CSV text file: the header line
// `time_s,client,uplink_mbps,downlink_mbps`, then one row per change, with
// time_s in seconds since origin and client 0 meaning every client. Lines
// whose first non-blank character is '#' are comments, and blank lines are
// ignored. Rows apply in file order, so a later row for the same time and
// client replaces an earlier one. The whole file is checked before any rate
// is applied, so on error `clients` is unchanged.
//
// Throws InputError naming the file, the line and the field for a missing or
// unreadable file, a wrong header, a wrong number of fields, a field that is
// not a number, a time < 0, a client outside 0..K, or a bandwidth <= 0.
void apply_bandwidth_trace(const std::string& path, std::vector<LinkSettings>& clients);

}  // namespace pipar
