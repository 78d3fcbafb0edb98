// Ping-pong bandwidth of pipar's Transport against plain blocking MPI at the
// same message sizes, in one run on 2 ranks, emulation off.
//
// Usage: mpirun -n 2 pipar_transport_bench [repetitions]
// Prints one line per message size: bytes, the bandwidth of plain MPI, of the
// Transport whose waiting thread sleeps until the progress thread signals,
// and of the Transport whose waiting thread polls (busy wait), in MB/s (1e6
// bytes per second, counting both directions), and each ratio to plain MPI.
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pipar/mpi.hpp"
#include "pipar/transport.hpp"

namespace {

constexpr int kTag = 17;

// Median of `samples`, which it sorts.
double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Seconds for one ping-pong of `bytes` with MPI_Send/MPI_Recv.
double plain_round_trip(const pipar::mpi::Communicator& comm, std::vector<char>& buffer) {
  const int peer = 1 - comm.rank();
  const int count = static_cast<int>(buffer.size());
  comm.barrier();
  const double start = MPI_Wtime();
  if (comm.rank() == 0) {
    pipar::mpi::check(MPI_Send(buffer.data(), count, MPI_BYTE, peer, kTag, comm.get()), "MPI_Send");
    pipar::mpi::check(MPI_Recv(buffer.data(), count, MPI_BYTE, peer, kTag, comm.get(), MPI_STATUS_IGNORE),
                      "MPI_Recv");
  } else {
    pipar::mpi::check(MPI_Recv(buffer.data(), count, MPI_BYTE, peer, kTag, comm.get(), MPI_STATUS_IGNORE),
                      "MPI_Recv");
    pipar::mpi::check(MPI_Send(buffer.data(), count, MPI_BYTE, peer, kTag, comm.get()), "MPI_Send");
  }
  return MPI_Wtime() - start;
}

// Seconds for one ping-pong of a float32 tensor through the Transport.
double transport_round_trip(const pipar::mpi::Communicator& comm, pipar::Transport& transport,
                            const torch::Tensor& tensor) {
  const int peer = 1 - comm.rank();
  pipar::MessageHeader header;
  header.kind = pipar::MessageKind::kActivation;
  comm.barrier();
  const double start = MPI_Wtime();
  if (comm.rank() == 0) {
    transport.send(peer, header, {tensor});
    transport.receive();
  } else {
    pipar::Message message = transport.receive();
    transport.send(peer, header, {message.tensors[0]});
  }
  const double elapsed = MPI_Wtime() - start;
  transport.wait_all_sends();
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  pipar::mpi::Environment environment(argc, argv, MPI_THREAD_MULTIPLE);
  auto comm = pipar::mpi::Communicator::duplicate(MPI_COMM_WORLD);
  if (comm.size() != 2) {
    if (comm.rank() == 0) std::fprintf(stderr, "run with exactly 2 ranks: mpirun -n 2 %s\n", argv[0]);
    return 2;
  }
  const int repetitions = argc > 1 ? std::max(3, std::atoi(argv[1])) : 50;
  // Each Transport needs a communicator of its own: both probe the same tags.
  auto sleeping_comm = pipar::mpi::Communicator::duplicate(comm.get());
  auto polling_comm = pipar::mpi::Communicator::duplicate(comm.get());
  pipar::Transport sleeping(sleeping_comm);
  pipar::TransportOptions polling_options;
  polling_options.busy_wait = true;
  pipar::Transport polling(polling_comm, polling_options);

  if (comm.rank() == 0) {
    std::printf("# ping-pong, 2 ranks, median of %d round trips; MB/s = 1e6 bytes/s both ways\n",
                repetitions);
    std::printf("# %10s %12s %16s %8s %16s %8s\n", "bytes", "MPI (MB/s)", "sleeping (MB/s)",
                "ratio", "busy wait (MB/s)", "ratio");
  }
  // 313,600 and 1,254,400 bytes are VGG-5's activations at cut point 2 for
  // micro-batches of 25 and batches of 100 samples.
  for (const std::int64_t bytes : {65536L, 313600L, 1254400L, 4194304L}) {
    std::vector<char> buffer(static_cast<std::size_t>(bytes));
    const torch::Tensor tensor = torch::ones({bytes / 4});
    std::vector<double> plain;
    std::vector<double> slept;
    std::vector<double> polled;
    for (int i = 0; i < repetitions; ++i) {
      plain.push_back(plain_round_trip(comm, buffer));
      slept.push_back(transport_round_trip(sleeping_comm, sleeping, tensor));
      polled.push_back(transport_round_trip(polling_comm, polling, tensor));
    }
    if (comm.rank() == 0) {
      const auto rate = [bytes](const std::vector<double>& times) {
        return 2.0 * static_cast<double>(bytes) / median(times) / 1e6;
      };
      std::printf("  %10lld %12.1f %16.1f %8.3f %16.1f %8.3f\n", static_cast<long long>(bytes),
                  rate(plain), rate(slept), rate(slept) / rate(plain), rate(polled),
                  rate(polled) / rate(plain));
    }
  }
  return 0;
}
