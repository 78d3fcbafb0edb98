// Tests of the MPI transport; run under mpiexec with 2 or more ranks. Rank 0
// receives and ranks 1..n-1 send.
#include "pipar/transport.hpp"

#include <gtest/gtest.h>

#include <map>

#include "pipar/mpi.hpp"

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
