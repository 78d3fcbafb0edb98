// Tests of the emulated network links: transmission and arrival times,
// queueing, full and half duplex, bandwidth changes during a transfer, and
// the bandwidth trace reader with each input it rejects.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipar/error.hpp"
#include "pipar/link.hpp"

namespace {

using pipar::BandwidthSchedule;
using pipar::Direction;
using pipar::LinkSettings;
using pipar::NetworkEmulator;
using pipar::Transmission;

// Every expected time below is a few exact operations on doubles, so a result
// may differ from it only by rounding, which stays far below 1 ns.
constexpr double kToleranceS = 1e-9;

LinkSettings make_link(double uplink_mbps, double downlink_mbps, double latency_s) {
  LinkSettings link;
  link.uplink = BandwidthSchedule(uplink_mbps);
  link.downlink = BandwidthSchedule(downlink_mbps);
  link.latency_s = latency_s;
  return link;
}

NetworkEmulator make_single_client(const LinkSettings& link, bool half_duplex = false,
                                   double origin_s = 0.0) {
  return NetworkEmulator({link}, half_duplex, origin_s);
}

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/pipar_link_test_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to a file `name` in this directory and returns its path.
  std::string write_file(const std::string& name, const std::string& content) const {
    const std::string path = path_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) throw std::runtime_error("failed to write test file " + path);
    return path;
  }

 private:
  std::string path_;
};

// Returns the message of the InputError that apply_bandwidth_trace throws, or
// an empty string if it throws none.
std::string trace_error(const std::string& path, std::vector<LinkSettings>& clients) {
  try {
    pipar::apply_bandwidth_trace(path, clients);
  } catch (const pipar::InputError& error) {
    return error.what();
  }
  return "";
}

const std::string kHeader = "time_s,client,uplink_mbps,downlink_mbps\n";

// ---------------------------------------------------------------------------
// Transmission times on one link

TEST(LinkTiming, ArrivalAddsTransmissionAndLatency) {
  struct Case {
    std::int64_t bytes;
    double mbps;
    double latency_ms;
    double post_s;
  };
  const std::vector<Case> cases = {
      {1'250'000, 10.0, 20.0, 0.0},  // 10 Mbit in 1 s, arrives at 1.02 s
      {125'000, 1.0, 5.0, 2.5},
      {1'000, 100.0, 0.0, 7.0},
      {64, 0.5, 150.0, 0.0},
      {0, 10.0, 30.0, 4.0},  // an empty message still has the latency
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.bytes) + " bytes at " + std::to_string(c.mbps) +
                 " Mbit/s with " + std::to_string(c.latency_ms) + " ms");
    const double end_s = c.post_s + static_cast<double>(c.bytes) * 8.0 / (c.mbps * 1e6);
    const double arrival_s = end_s + c.latency_ms / 1000.0;
    for (const Direction direction : {Direction::kUplink, Direction::kDownlink}) {
      NetworkEmulator network =
          make_single_client(make_link(c.mbps, c.mbps, c.latency_ms / 1000.0));
      const Transmission sent = network.transmit(1, direction, c.post_s, c.bytes);
      EXPECT_NEAR(sent.start, c.post_s, kToleranceS);
      EXPECT_NEAR(sent.end, end_s, kToleranceS);
      EXPECT_NEAR(sent.arrival, arrival_s, kToleranceS);
    }
  }
}

TEST(LinkTiming, TenMegabitsTakeOneSecond) {
  NetworkEmulator network = make_single_client(make_link(10.0, 10.0, 0.020));
  const Transmission sent = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);
  EXPECT_NEAR(sent.end, 1.0, kToleranceS);
  EXPECT_NEAR(sent.arrival, 1.02, kToleranceS);
}

TEST(LinkQueue, SameTimeMessagesSerialize) {
  NetworkEmulator network = make_single_client(make_link(10.0, 10.0, 0.020));
  const Transmission first = network.transmit(1, Direction::kUplink, 0.5, 1'250'000);
  const Transmission second = network.transmit(1, Direction::kUplink, 0.5, 1'250'000);

  EXPECT_NEAR(first.start, 0.5, kToleranceS);
  EXPECT_NEAR(first.end, 1.5, kToleranceS);
  EXPECT_NEAR(first.arrival, 1.52, kToleranceS);
  EXPECT_NEAR(second.start, first.end, kToleranceS);
  EXPECT_NEAR(second.end, 2.5, kToleranceS);
  EXPECT_NEAR(second.arrival, first.arrival + 1.0, kToleranceS);
}

TEST(LinkQueue, MessageWhileBusyWaits) {
  NetworkEmulator network = make_single_client(make_link(10.0, 10.0, 0.0));
  network.transmit(1, Direction::kDownlink, 0.0, 1'250'000);  // busy until 1 s
  const Transmission waiting = network.transmit(1, Direction::kDownlink, 0.25, 125'000);

  EXPECT_NEAR(waiting.start, 1.0, kToleranceS);
  EXPECT_NEAR(waiting.end, 1.1, kToleranceS);
}

TEST(LinkQueue, IdleLinkStartsAtPost) {
  NetworkEmulator network = make_single_client(make_link(10.0, 10.0, 0.010));
  network.transmit(1, Direction::kUplink, 0.0, 1'250'000);  // busy until 1 s
  const Transmission later = network.transmit(1, Direction::kUplink, 3.0, 1'250'000);
  const Transmission at_end = network.transmit(1, Direction::kUplink, 4.0, 1'250'000);

  EXPECT_NEAR(later.start, 3.0, kToleranceS);
  EXPECT_NEAR(later.end, 4.0, kToleranceS);
  EXPECT_NEAR(later.arrival, 4.01, kToleranceS);
  EXPECT_NEAR(at_end.start, 4.0, kToleranceS);
  EXPECT_NEAR(at_end.end, 5.0, kToleranceS);
}

// ---------------------------------------------------------------------------
// Full and half duplex

TEST(LinkDuplex, FullDuplexDirectionsIndependent) {
  NetworkEmulator network = make_single_client(make_link(10.0, 20.0, 0.005));
  const Transmission up = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);
  const Transmission down = network.transmit(1, Direction::kDownlink, 0.0, 1'250'000);

  EXPECT_FALSE(network.half_duplex());
  EXPECT_NEAR(up.start, 0.0, kToleranceS);
  EXPECT_NEAR(up.end, 1.0, kToleranceS);
  EXPECT_NEAR(up.arrival, 1.005, kToleranceS);
  EXPECT_NEAR(down.start, 0.0, kToleranceS);
  EXPECT_NEAR(down.end, 0.5, kToleranceS);
  EXPECT_NEAR(down.arrival, 0.505, kToleranceS);
}

TEST(LinkDuplex, HalfDuplexUplinkThenDownlinkShareChannel) {
  NetworkEmulator network = make_single_client(make_link(10.0, 20.0, 0.005), true);
  const Transmission up = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);
  const Transmission down = network.transmit(1, Direction::kDownlink, 0.0, 1'250'000);

  EXPECT_TRUE(network.half_duplex());
  EXPECT_NEAR(up.start, 0.0, kToleranceS);
  EXPECT_NEAR(up.end, 1.0, kToleranceS);
  EXPECT_NEAR(down.start, 1.0, kToleranceS);
  EXPECT_NEAR(down.end, 1.5, kToleranceS);  // 10 Mbit at the downlink's 20 Mbit/s
  EXPECT_NEAR(down.arrival, 1.505, kToleranceS);
}

TEST(LinkDuplex, HalfDuplexDownlinkThenUplinkShareChannel) {
  NetworkEmulator network = make_single_client(make_link(10.0, 20.0, 0.005), true);
  const Transmission down = network.transmit(1, Direction::kDownlink, 0.0, 1'250'000);
  const Transmission up = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);

  EXPECT_NEAR(down.end, 0.5, kToleranceS);
  EXPECT_NEAR(up.start, 0.5, kToleranceS);
  EXPECT_NEAR(up.end, 1.5, kToleranceS);  // 10 Mbit at the uplink's 10 Mbit/s
  EXPECT_NEAR(up.arrival, 1.505, kToleranceS);
}

TEST(LinkDuplex, HalfDuplexWaitsForChannelEnd) {
  NetworkEmulator half = make_single_client(make_link(10.0, 10.0, 0.0), true);
  half.transmit(1, Direction::kUplink, 2.0, 1'250'000);  // channel busy until 3 s
  const Transmission down_half = half.transmit(1, Direction::kDownlink, 1.0, 125'000);
  EXPECT_NEAR(down_half.start, 3.0, kToleranceS);
  EXPECT_NEAR(down_half.end, 3.1, kToleranceS);

  NetworkEmulator full = make_single_client(make_link(10.0, 10.0, 0.0), false);
  full.transmit(1, Direction::kUplink, 2.0, 1'250'000);
  const Transmission down_full = full.transmit(1, Direction::kDownlink, 1.0, 125'000);
  EXPECT_NEAR(down_full.start, 1.0, kToleranceS);
  EXPECT_NEAR(down_full.end, 1.1, kToleranceS);
}

// ---------------------------------------------------------------------------
// Unlimited and changing bandwidth

TEST(LinkBandwidth, UnlimitedAddsOnlyLatency) {
  NetworkEmulator network = make_single_client(make_link(0.0, 0.0, 0.040));
  const Transmission first = network.transmit(1, Direction::kUplink, 2.0, 1'000'000'000);
  const Transmission second = network.transmit(1, Direction::kUplink, 2.0, 1'000'000'000);

  EXPECT_DOUBLE_EQ(first.start, 2.0);
  EXPECT_DOUBLE_EQ(first.end, 2.0);
  EXPECT_NEAR(first.arrival, 2.04, kToleranceS);
  EXPECT_DOUBLE_EQ(second.start, 2.0);
  EXPECT_NEAR(second.arrival, 2.04, kToleranceS);
}

TEST(BandwidthSchedule, DefaultIsUnlimited) {
  const BandwidthSchedule schedule;
  EXPECT_TRUE(schedule.unlimited_at(0.0));
  EXPECT_EQ(schedule.rate_at(0.0), 0.0);
  EXPECT_EQ(schedule.finish_time(1.5, 1e9), 1.5);
}

TEST(BandwidthSchedule, UnlimitedUntilFirstPoint) {
  BandwidthSchedule schedule(0.0);
  schedule.add_point(2.0, 10.0);

  EXPECT_TRUE(schedule.unlimited_at(1.0));
  EXPECT_FALSE(schedule.unlimited_at(2.0));
  EXPECT_EQ(schedule.finish_time(1.0, 1e7), 1.0);
  EXPECT_NEAR(schedule.finish_time(2.0, 1e7), 3.0, kToleranceS);
}

TEST(BandwidthSchedule, RateAtUsesLatestPoint) {
  BandwidthSchedule schedule(8.0);
  schedule.add_point(5.0, 2.0);
  schedule.add_point(1.0, 4.0);  // added out of order
  schedule.add_point(5.0, 3.0);  // replaces the rate at 5 s

  EXPECT_EQ(schedule.rate_at(-1.0), 8.0);
  EXPECT_EQ(schedule.rate_at(0.0), 8.0);
  EXPECT_EQ(schedule.rate_at(0.999), 8.0);
  EXPECT_EQ(schedule.rate_at(1.0), 4.0);
  EXPECT_EQ(schedule.rate_at(4.999), 4.0);
  EXPECT_EQ(schedule.rate_at(5.0), 3.0);
  EXPECT_EQ(schedule.rate_at(100.0), 3.0);
  EXPECT_FALSE(schedule.unlimited_at(0.0));
}

TEST(BandwidthSchedule, DropMidTransferSlowsRest) {
  // 20 Mbit from t = 0: 10 Mbit leave by 1 s at 10 Mbit/s, the other 10 Mbit
  // take 2 s at 5 Mbit/s.
  BandwidthSchedule halved(10.0);
  halved.add_point(1.0, 5.0);
  const BandwidthSchedule constant(10.0);

  EXPECT_NEAR(halved.finish_time(0.0, 20e6), 3.0, kToleranceS);
  EXPECT_NEAR(constant.finish_time(0.0, 20e6), 2.0, kToleranceS);
}

TEST(BandwidthSchedule, RiseMidTransferSpeedsRest) {
  // 20 Mbit from t = 0: 5 Mbit leave by 1 s at 5 Mbit/s, the other 15 Mbit
  // take 1.5 s at 10 Mbit/s.
  BandwidthSchedule doubled(5.0);
  doubled.add_point(1.0, 10.0);

  EXPECT_NEAR(doubled.finish_time(0.0, 20e6), 2.5, kToleranceS);
}

TEST(BandwidthSchedule, FinishTimeSpansSeveralChanges) {
  BandwidthSchedule schedule(10.0);
  schedule.add_point(1.0, 5.0);
  schedule.add_point(2.0, 20.0);
  schedule.add_point(3.0, 1.0);

  // 5 Mbit in [0.5, 1), 5 in [1, 2), 20 in [2, 3), the last 10 take 10 s.
  EXPECT_NEAR(schedule.finish_time(0.5, 40e6), 13.0, kToleranceS);
  // Exactly the bits of the piece [2.5, 3) end at its boundary.
  EXPECT_NEAR(schedule.finish_time(2.5, 10e6), 3.0, kToleranceS);
  // A transfer after the last change uses its rate.
  EXPECT_NEAR(schedule.finish_time(4.0, 2e6), 6.0, kToleranceS);
  EXPECT_EQ(schedule.finish_time(1.5, 0.0), 1.5);
}

TEST(BandwidthSchedule, RejectsInvalidValues) {
  BandwidthSchedule schedule(10.0);
  EXPECT_THROW(schedule.add_point(1.0, 0.0), std::invalid_argument);
  EXPECT_THROW(schedule.add_point(1.0, -2.0), std::invalid_argument);
  EXPECT_THROW(schedule.add_point(1.0, NAN), std::invalid_argument);
  EXPECT_THROW(schedule.add_point(-1.0, 5.0), std::invalid_argument);
  EXPECT_THROW(schedule.add_point(INFINITY, 5.0), std::invalid_argument);
  EXPECT_THROW(schedule.finish_time(0.0, -1.0), std::invalid_argument);
  EXPECT_THROW(BandwidthSchedule(-1.0), std::invalid_argument);
  EXPECT_EQ(schedule.rate_at(2.0), 10.0);  // no rejected point was kept
}

TEST(LinkBandwidth, DropMidTransferOnLink) {
  LinkSettings link = make_link(10.0, 10.0, 0.020);
  link.uplink.add_point(1.0, 5.0);
  NetworkEmulator network = make_single_client(link);

  const Transmission up = network.transmit(1, Direction::kUplink, 0.0, 2'500'000);
  const Transmission down = network.transmit(1, Direction::kDownlink, 0.0, 2'500'000);
  EXPECT_NEAR(up.end, 3.0, kToleranceS);
  EXPECT_NEAR(up.arrival, 3.02, kToleranceS);
  EXPECT_NEAR(down.end, 2.0, kToleranceS);  // the downlink keeps 10 Mbit/s
}

TEST(LinkBandwidth, QueuedMessageUsesRateAtItsStart) {
  LinkSettings link = make_link(10.0, 10.0, 0.0);
  link.uplink.add_point(1.0, 5.0);
  NetworkEmulator network = make_single_client(link);

  network.transmit(1, Direction::kUplink, 0.0, 1'250'000);  // 10 Mbit, ends at 1 s
  const Transmission queued = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);
  EXPECT_NEAR(queued.start, 1.0, kToleranceS);
  EXPECT_NEAR(queued.end, 3.0, kToleranceS);
}

// ---------------------------------------------------------------------------
// Emulator with several clients, origin and argument checks

TEST(NetworkEmulator, TraceTimesRelativeToOrigin) {
  const double origin_s = 1000.0;
  LinkSettings link = make_link(10.0, 10.0, 0.020);
  link.uplink.add_point(1.0, 5.0);
  NetworkEmulator network = make_single_client(link, false, origin_s);

  const Transmission first = network.transmit(1, Direction::kUplink, 1000.0, 2'500'000);
  EXPECT_NEAR(first.start, 1000.0, kToleranceS);
  EXPECT_NEAR(first.end, 1003.0, kToleranceS);
  EXPECT_NEAR(first.arrival, 1003.02, kToleranceS);

  const Transmission after_change = network.transmit(1, Direction::kUplink, 1010.0, 1'250'000);
  EXPECT_NEAR(after_change.end, 1012.0, kToleranceS);  // 10 Mbit at 5 Mbit/s
}

TEST(NetworkEmulator, ClientsHaveOwnSettings) {
  NetworkEmulator network({make_link(10.0, 10.0, 0.020), make_link(2.0, 4.0, 0.050)}, false, 0.0);
  const Transmission client1 = network.transmit(1, Direction::kUplink, 0.0, 1'250'000);
  const Transmission client2 = network.transmit(2, Direction::kUplink, 0.0, 1'250'000);
  const Transmission client2_down = network.transmit(2, Direction::kDownlink, 0.0, 1'250'000);

  EXPECT_EQ(network.clients(), 2);
  EXPECT_NEAR(client1.arrival, 1.02, kToleranceS);
  EXPECT_NEAR(client2.start, 0.0, kToleranceS);  // no queueing behind client 1
  EXPECT_NEAR(client2.arrival, 5.05, kToleranceS);
  EXPECT_NEAR(client2_down.arrival, 2.55, kToleranceS);
}

TEST(NetworkEmulator, OutOfOrderPostThrows) {
  NetworkEmulator network = make_single_client(make_link(10.0, 10.0, 0.0));
  network.transmit(1, Direction::kUplink, 2.25, 1'000);

  try {
    network.transmit(1, Direction::kUplink, 1.5, 1'000);
    FAIL() << "expected std::invalid_argument for a post time before the previous one";
  } catch (const std::invalid_argument& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("1.5 s"), std::string::npos) << message;
    EXPECT_NE(message.find("2.25 s"), std::string::npos) << message;
  }
  // The other direction keeps its own order.
  EXPECT_NO_THROW(network.transmit(1, Direction::kDownlink, 1.5, 1'000));
  // The rejected message did not move the uplink's last post time.
  EXPECT_NO_THROW(network.transmit(1, Direction::kUplink, 2.25, 1'000));
}

TEST(NetworkEmulator, RejectsInvalidArguments) {
  NetworkEmulator network({make_link(10.0, 10.0, 0.0), make_link(10.0, 10.0, 0.0)}, false, 0.0);
  EXPECT_THROW(network.transmit(0, Direction::kUplink, 0.0, 1), std::out_of_range);
  EXPECT_THROW(network.transmit(3, Direction::kUplink, 0.0, 1), std::out_of_range);
  EXPECT_THROW(network.transmit(1, Direction::kUplink, 0.0, -1), std::invalid_argument);
  EXPECT_THROW(network.transmit(1, Direction::kUplink, NAN, 1), std::invalid_argument);
  EXPECT_THROW(NetworkEmulator({make_link(1.0, 1.0, -0.001)}, false, 0.0), std::invalid_argument);
  EXPECT_THROW(NetworkEmulator({make_link(1.0, 1.0, 0.0)}, false, INFINITY), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Bandwidth trace files

TEST(BandwidthTrace, ValidFileSetsRates) {
  const TempDir dir;
  const std::string rows =
      "\n"
      "# every client from the start\n"
      "0,0,10,20\n"
      "1.5,2,4,8\n"
      "   # an indented comment\n"
      "3, 0, 1e1, 2.5\n";
  const std::string path =
      dir.write_file("trace.csv", "# changes for a 3-client run\n" + kHeader + rows);
  std::vector<LinkSettings> clients(3);
  pipar::apply_bandwidth_trace(path, clients);

  for (const int client : {1, 3}) {
    SCOPED_TRACE("client " + std::to_string(client));
    const LinkSettings& link = clients[static_cast<std::size_t>(client - 1)];
    EXPECT_EQ(link.uplink.rate_at(0.0), 10.0);
    EXPECT_EQ(link.downlink.rate_at(0.0), 20.0);
    EXPECT_EQ(link.uplink.rate_at(2.0), 10.0);
    EXPECT_EQ(link.downlink.rate_at(2.0), 20.0);
    EXPECT_EQ(link.uplink.rate_at(3.0), 10.0);
    EXPECT_EQ(link.downlink.rate_at(3.0), 2.5);
  }
  const LinkSettings& client2 = clients[1];
  EXPECT_EQ(client2.uplink.rate_at(1.0), 10.0);
  EXPECT_EQ(client2.downlink.rate_at(1.0), 20.0);
  EXPECT_EQ(client2.uplink.rate_at(1.5), 4.0);
  EXPECT_EQ(client2.downlink.rate_at(2.9), 8.0);
  EXPECT_EQ(client2.uplink.rate_at(3.0), 10.0);
  EXPECT_EQ(client2.downlink.rate_at(3.0), 2.5);
}

TEST(BandwidthTrace, KeepsRateBeforeFirstRow) {
  const TempDir dir;
  const std::string path = dir.write_file("trace.csv", kHeader + "2,1,5,6\n");
  std::vector<LinkSettings> clients = {make_link(40.0, 0.0, 0.0)};
  pipar::apply_bandwidth_trace(path, clients);

  EXPECT_EQ(clients[0].uplink.rate_at(1.0), 40.0);
  EXPECT_TRUE(clients[0].downlink.unlimited_at(1.0));
  EXPECT_EQ(clients[0].uplink.rate_at(2.0), 5.0);
  EXPECT_EQ(clients[0].downlink.rate_at(2.0), 6.0);
}

TEST(BandwidthTrace, AcceptsWindowsLineEndings) {
  const TempDir dir;
  const std::string path = dir.write_file(
      "trace.csv", "time_s,client,uplink_mbps,downlink_mbps\r\n0,1,5,6\r\n");
  std::vector<LinkSettings> clients(1);
  pipar::apply_bandwidth_trace(path, clients);

  EXPECT_EQ(clients[0].uplink.rate_at(0.0), 5.0);
  EXPECT_EQ(clients[0].downlink.rate_at(0.0), 6.0);
}

TEST(BandwidthTrace, HeaderOnlyChangesNothing) {
  const TempDir dir;
  const std::string path = dir.write_file("trace.csv", kHeader);
  std::vector<LinkSettings> clients = {make_link(7.0, 9.0, 0.0)};
  pipar::apply_bandwidth_trace(path, clients);

  EXPECT_EQ(clients[0].uplink.rate_at(100.0), 7.0);
  EXPECT_EQ(clients[0].downlink.rate_at(100.0), 9.0);
}

TEST(BandwidthTrace, MissingFileNamesPath) {
  const TempDir dir;
  const std::string path = dir.write_file("present.csv", kHeader) + ".missing";
  std::vector<LinkSettings> clients(1);
  const std::string message = trace_error(path, clients);

  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("not found"), std::string::npos) << message;
}

TEST(BandwidthTrace, EmptyFileNamesPath) {
  const TempDir dir;
  const std::string path = dir.write_file("empty.csv", "# only a comment\n\n");
  std::vector<LinkSettings> clients(1);
  const std::string message = trace_error(path, clients);

  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("header"), std::string::npos) << message;
}

TEST(BandwidthTrace, BadInputNamesFileAndLine) {
  struct Case {
    const char* name;
    std::string content;
    int line;
    const char* field;  // a word the message must contain
  };
  const std::vector<Case> cases = {
      {"wrong header", "time,client,up,down\n0,0,1,1\n", 1, "header"},
      {"header after comment", "# c\n\ntime_s,client,uplink_mbps\n", 3, "header"},
      {"too few fields", kHeader + "0,0,5\n", 2, "fields"},
      {"too many fields", kHeader + "0,0,5,5,5\n", 2, "fields"},
      {"trailing comma", kHeader + "0,0,5,5,\n", 2, "fields"},
      {"time not a number", kHeader + "soon,0,5,5\n", 2, "time_s"},
      {"time infinite", kHeader + "inf,0,5,5\n", 2, "time_s"},
      {"time negative", kHeader + "-1,0,5,5\n", 2, "time_s"},
      {"client not a number", kHeader + "0,x,5,5\n", 2, "client"},
      {"client fractional", kHeader + "0,1.5,5,5\n", 2, "client"},
      {"client above K", kHeader + "0,3,5,5\n", 2, "client"},
      {"client negative", kHeader + "0,-1,5,5\n", 2, "client"},
      {"client overflows", kHeader + "0,99999999999999999999,5,5\n", 2, "client"},
      {"uplink not a number", kHeader + "0,0,fast,5\n", 2, "uplink_mbps"},
      {"uplink zero", kHeader + "0,0,0,5\n", 2, "uplink_mbps"},
      {"downlink negative", kHeader + "0,0,5,-2\n", 2, "downlink_mbps"},
      {"downlink empty", kHeader + "0,0,5, \n", 2, "downlink_mbps"},
      {"line count includes comments", kHeader + "0,0,5,5\n# c\n\n1,0,5,x\n", 5, "downlink_mbps"},
  };
  const TempDir dir;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.write_file("trace.csv", c.content);
    std::vector<LinkSettings> clients(2);
    const std::string message = trace_error(path, clients);

    EXPECT_NE(message.find(path + ":" + std::to_string(c.line) + ":"), std::string::npos)
        << message;
    EXPECT_NE(message.find(c.field), std::string::npos) << message;
  }
}

TEST(BandwidthTrace, BadFileLeavesSettingsUnchanged) {
  const TempDir dir;
  const std::string path = dir.write_file("trace.csv", kHeader + "0,0,5,5\n1,0,5,0\n");
  std::vector<LinkSettings> clients = {make_link(7.0, 9.0, 0.0)};
  const std::string message = trace_error(path, clients);

  EXPECT_NE(message, "");
  EXPECT_EQ(clients[0].uplink.rate_at(0.0), 7.0);
  EXPECT_EQ(clients[0].downlink.rate_at(0.0), 9.0);
}

}  // namespace
