// Tests of the MPI transport; run under mpiexec with 2 or more ranks. Rank 0
// receives and ranks 1..n-1 send.
#include "pipar/transport.hpp"

#include <gtest/gtest.h>

#include <map>

#include "pipar/clock.hpp"
#include "pipar/link.hpp"
#include "pipar/mpi.hpp"
#include "pipar/training.hpp"

namespace {

pipar::mpi::Communicator world() { return pipar::mpi::Communicator::duplicate(MPI_COMM_WORLD); }

pipar::MessageHeader activation_header(int client, int micro_batch) {
  pipar::MessageHeader header;
  header.kind = pipar::MessageKind::kActivation;
  header.client = client;
  header.round = 3;
  header.batch = 7;
  header.micro_batch = micro_batch;
  header.micro_batch_count = 4;
  header.batch_samples = 100;
  return header;
}

// Keeps this thread's core busy with LibTorch work for about `seconds`, as a
// forward pass would; returns the MPI_Wtime at which it started and ended.
std::pair<double, double> compute_for(double seconds) {
  const auto a = torch::randn({192, 192});
  auto b = torch::randn({192, 192});
  const double start = MPI_Wtime();
  while (MPI_Wtime() - start < seconds) b = torch::tanh(torch::matmul(a, b));
  return {start, MPI_Wtime()};
}

TEST(Transport, TensorsArriveWithShapeDtypeAndHeader) {
  auto comm = world();
  pipar::Transport transport(comm);
  if (comm.rank() == 0) {
    for (int sender = 1; sender < comm.size(); ++sender) {
      pipar::Message message = transport.receive();
      ASSERT_EQ(message.header.tensor_count, 4) << "from rank " << message.source;
      EXPECT_EQ(message.header.client, message.source);
      EXPECT_EQ(message.header.round, 3);
      EXPECT_EQ(message.header.batch, 7);
      EXPECT_EQ(message.header.micro_batch, 2);
      EXPECT_EQ(message.header.batch_samples, 100);
      const auto& tensors = message.tensors;
      EXPECT_TRUE(torch::equal(tensors[0], torch::arange(24, torch::kFloat32).view({2, 3, 4}) + message.source));
      EXPECT_TRUE(torch::equal(tensors[1], torch::arange(5, torch::kInt64) * message.source));
      EXPECT_TRUE(torch::equal(tensors[2], torch::full({2, 2}, message.source, torch::kUInt8)));
      EXPECT_EQ(tensors[3].numel(), 0);
      EXPECT_EQ(tensors[3].scalar_type(), torch::kFloat64);
      const std::int64_t payload = 24 * 4 + 5 * 8 + 4 * 1;
      EXPECT_EQ(transport.bytes_received_from(message.source),
                static_cast<std::int64_t>(sizeof(pipar::MessageHeader)) + payload);
    }
  } else {
    const int rank = comm.rank();
    auto request = transport.send(
        0, activation_header(rank, 2),
        {torch::arange(24, torch::kFloat32).view({2, 3, 4}) + rank,
         torch::arange(5, torch::kInt64) * rank, torch::full({2, 2}, rank, torch::kUInt8),
         torch::empty({0, 3}, torch::kFloat64)});
    transport.wait(*request);
    EXPECT_TRUE(request->done());
  }
}

TEST(Transport, MessagesFromOneSenderStayInOrder) {
  auto comm = world();
  pipar::Transport transport(comm);
  constexpr int kMessages = 20;
  if (comm.rank() == 0) {
    std::map<int, int> next;
    for (int i = 0; i < kMessages * (comm.size() - 1); ++i) {
      pipar::Message message = transport.receive();
      EXPECT_EQ(message.header.micro_batch, next[message.source]) << "from rank " << message.source;
      // Each payload must land in the buffer sized by its own header.
      EXPECT_EQ(message.tensors[0].numel(), 1000 * (message.header.micro_batch + 1));
      EXPECT_EQ(message.tensors[0][0].item<float>(), static_cast<float>(message.header.micro_batch));
      next[message.source] += 1;
    }
  } else {
    for (int i = 0; i < kMessages; ++i) {
      transport.send(0, activation_header(comm.rank(), i), {torch::full({1000 * (i + 1)}, static_cast<float>(i))});
    }
    transport.wait_all_sends();
  }
}

// A 32 MiB message goes by MPI's rendezvous protocol, which Open MPI 4.1
// advances only inside MPI calls. With the progress thread the upload must
// complete while the sender is still computing; without it, only once the
// sender calls into MPI again after the computation.
void check_upload_during_compute(bool progress_thread) {
  auto comm = world();
  pipar::TransportOptions options;
  options.progress_thread = progress_thread;
  pipar::Transport transport(comm, options);
  const torch::Tensor payload = torch::ones({8 * 1024 * 1024});

  if (comm.rank() == 0) {
    for (int sender = 1; sender < comm.size(); ++sender) {
      pipar::Message message = transport.receive();
      EXPECT_EQ(message.tensors[0].numel(), payload.numel());
      EXPECT_EQ(message.tensors[0].sum().item<double>(), static_cast<double>(payload.numel()));
    }
  } else {
    auto request = transport.send(0, activation_header(comm.rank(), 0), {payload});
    const auto [compute_start, compute_end] = compute_for(1.5);
    transport.wait(*request);
    ASSERT_TRUE(request->done());
    // Moving the 32 MiB took the progress thread CPU time. That time counts
    // for the process but not for the compute.
    const double progress_cpu = transport.progress_thread_cpu_seconds();
    if (progress_thread) {
      EXPECT_GT(progress_cpu, 0.0);
      EXPECT_LT(progress_cpu, pipar::process_cpu_seconds());
    } else {
      EXPECT_EQ(progress_cpu, 0.0);
    }
    if (progress_thread) {
      EXPECT_LT(request->completion_time(), compute_end)
          << "the upload completed " << request->completion_time() - compute_end
          << " s after the computation ended, rank " << comm.rank();
      EXPECT_GT(request->completion_time(), compute_start - 1.0);
    } else {
      EXPECT_GE(request->completion_time(), compute_end) << "rank " << comm.rank();
    }
  }
  comm.barrier();
}

TEST(Transport, UploadCompletesDuringCompute) { check_upload_during_compute(true); }

TEST(Transport, WithoutProgressThreadUploadWaits) { check_upload_during_compute(false); }

TEST(Transport, NonContiguousTensorRejected) {
  auto comm = world();
  pipar::Transport transport(comm);
  const auto transposed = torch::zeros({3, 4}).t();
  try {
    transport.send(0, activation_header(1, 0), {transposed});
    FAIL() << "a non-contiguous tensor was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("[4, 3]"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("contiguous"), std::string::npos) << error.what();
  }
  EXPECT_THROW(transport.send(0, activation_header(1, 0), {torch::zeros({2}, torch::kInt32)}),
               std::invalid_argument);
}

}  // namespace

namespace {

constexpr double kUplinkMbps = 8.0;
constexpr double kDownlinkMbps = 16.0;
constexpr double kLatencyS = 0.030;
// Emulated arrivals are released by the progress thread, which sleeps until
// the next arrival; thread wake-up and the scheduling of 2-3 ranks on 2 cores
// add a few milliseconds at most, far below the 0.2-0.4 s transmissions.
constexpr double kArrivalToleranceS = 0.020;

double transmission_s(std::int64_t bytes, double mbps) {
  return static_cast<double>(bytes) * 8.0 / (mbps * 1e6);
}

// Rank 0 emulates every client's links; each client sends two messages back
// to back, which must arrive one transmission apart, then receives one.
TEST(Transport, EmulatedLinksDelayArrival) {
  auto comm = world();
  const pipar::Clock clock = pipar::synchronize_clock(comm);
  const torch::Tensor payload = torch::ones({100000});  // 400,000 bytes
  const std::int64_t bytes = static_cast<std::int64_t>(sizeof(pipar::MessageHeader)) + 400000;

  if (comm.rank() == 0) {
    std::vector<pipar::LinkSettings> links(static_cast<std::size_t>(comm.size() - 1));
    for (auto& link : links) {
      link.uplink = pipar::BandwidthSchedule(kUplinkMbps);
      link.downlink = pipar::BandwidthSchedule(kDownlinkMbps);
      link.latency_s = kLatencyS;
    }
    pipar::NetworkEmulator emulator(links, /*half_duplex=*/false, clock.now());
    pipar::TransportOptions options;
    options.clock = clock;
    options.emulator = &emulator;
    pipar::Transport transport(comm, options);

    std::map<int, double> first_post;
    for (int i = 0; i < 2 * (comm.size() - 1); ++i) {
      const pipar::Message message = transport.receive();
      const double arrived = clock.now();
      const int index = message.header.micro_batch;  // 0 or 1
      if (index == 0) first_post[message.source] = message.header.send_time;
      // Both uploads queue on one uplink: the second arrives a transmission later.
      const double expected = first_post[message.source] +
                              (index + 1) * transmission_s(bytes, kUplinkMbps) + kLatencyS;
      EXPECT_NEAR(arrived, expected, kArrivalToleranceS)
          << "upload " << index << " from rank " << message.source;
      EXPECT_GE(arrived, expected - 1e-3) << "released before its emulated arrival";
    }
    for (int client = 1; client < comm.size(); ++client) {
      transport.send(client, activation_header(client, 0), {payload});
    }
    transport.wait_all_sends();
  } else {
    pipar::TransportOptions options;
    options.clock = clock;
    pipar::Transport transport(comm, options);
    transport.send(0, activation_header(comm.rank(), 0), {payload});
    transport.send(0, activation_header(comm.rank(), 1), {payload});

    const pipar::Message message = transport.receive();
    const double arrived = clock.now();
    const double expected = message.header.send_time + transmission_s(bytes, kDownlinkMbps) + kLatencyS;
    EXPECT_NEAR(arrived, expected, kArrivalToleranceS) << "download to rank " << comm.rank();
    EXPECT_GE(arrived, expected - 1e-3) << "released before its emulated arrival";
    transport.wait_all_sends();
  }
  comm.barrier();
}

}  // namespace
