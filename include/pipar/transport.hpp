// Non-blocking tensor messages between ranks, kept moving by a progress thread.
//
// Open MPI 4.1 has no asynchronous progress: a large MPI_Isend (rendezvous
// protocol) advances only while the sending process is inside an MPI call.
// A Transport therefore runs one progress thread that polls its requests and
// probes for incoming messages, sleeping between polls with a backoff capped
// at TransportOptions::max_poll_interval_us, so that an upload moves while
// LibTorch computes the next micro-batch. This needs MPI_THREAD_MULTIPLE,
// because the calling thread posts sends and may run collectives meanwhile.
//
// Contract: one Transport per rank and communicator. send(), receive() and
// wait() may be called from any thread. Each message is a MessageHeader
// followed by its tensors, all from one sender on tags reserved for the
// Transport, so messages from one sender arrive in the order they were sent.
// receive() returns messages from all senders in the order they completed.
// Destroying a Transport waits for its outstanding requests. If they do not
// complete within the drain timeout, the process aborts with MPI_Abort, so no
// request is dropped silently (except while an exception unwinds, see the
// destructor).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pipar/clock.hpp"
#include "pipar/events.hpp"
#include "pipar/link.hpp"
#include "pipar/message.hpp"
#include "pipar/mpi.hpp"

namespace pipar {

struct TransportOptions {
  // Maximum sleep between two polls while nothing moves. A poll that finds
  // work resets the sleep to a few microseconds.
  int max_poll_interval_us = 200;
  // Without the thread, requests advance only inside send(), receive(),
  // wait() and poll(). Off only in tests that show why the thread exists.
  bool progress_thread = true;
  // A thread blocked in receive() or wait() polls MPI itself, yielding the
  // CPU between polls, instead of sleeping until the progress thread finds
  // the message: lower latency, but it keeps a core busy while it waits.
  // Use it when each rank has a core of its own.
  bool busy_wait = false;
  // How long the destructor waits for outstanding requests before aborting.
  double drain_timeout_s = 120.0;
  // The clock of send and arrival times and of link events.
  Clock clock;
  // Set on the server only: every training message to or from a client then
  // crosses that client's emulated link, and is released to the receiver at
  // its emulated arrival time. The emulator must outlive the Transport.
  NetworkEmulator* emulator = nullptr;
  // Where the server records link events (uploads and downloads), or null.
  EventLog* link_events = nullptr;
};

// A posted send: owns the header and the tensors until MPI reports that all
// of their requests have completed.
class SendRequest {
 public:
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Shared-clock time at which the progress thread saw the last request complete.
  double completion_time() const { return completion_time_; }

 private:
  friend class Transport;
  MessageHeader header_;
  int destination_ = -1;
  std::vector<torch::Tensor> tensors_;
  int outstanding_ = 0;
  double completion_time_ = 0.0;
  std::atomic<bool> done_{false};
};

struct Message {
  int source = -1;
  MessageHeader header;
  std::vector<torch::Tensor> tensors;
  double completion_time = 0.0;  // shared clock when the last tensor arrived
  std::int64_t bytes = 0;        // header and tensors
};

class Transport {
 public:
  Transport(const mpi::Communicator& comm, TransportOptions options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Posts the header and the tensors to `destination` and returns at once.
  // Each tensor must be defined, on the CPU, contiguous, of a WireType and of
  // at most kMaxTensorDims dimensions; otherwise std::invalid_argument names
  // its shape and dtype. The tensors must not be modified until done().
  std::shared_ptr<const SendRequest> send(int destination, MessageHeader header,
                                          std::vector<torch::Tensor> tensors);

  // Blocks until a training message has arrived (and, with emulated links,
  // reached its arrival time) and returns the oldest.
  Message receive();
  // Blocks until a control message (kEvents) has arrived and returns it.
  Message receive_control();

  void wait(const SendRequest& request);
  void wait_all_sends();

  // Header and payload bytes sent to / received from `rank` so far.
  std::int64_t bytes_sent_to(int rank) const;
  std::int64_t bytes_received_from(int rank) const;

  // CPU time in seconds that the progress thread has used so far (0 without
  // one). Device emulation subtracts it from the process's CPU time: moving
  // messages is the emulated link's part, not the device's compute.
  double progress_thread_cpu_seconds() const;

 private:
  struct Incoming;
  // Counts a busy-waiting thread in polling_waiters_ for its lifetime; the
  // caller holds mutex_ at construction and destruction.
  class PollingWaiter {
   public:
    explicit PollingWaiter(Transport& transport)
        : transport_(transport), counted_(transport.options_.busy_wait) {
      if (counted_) ++transport_.polling_waiters_;
    }
    ~PollingWaiter() {
      if (counted_) --transport_.polling_waiters_;
    }
    PollingWaiter(const PollingWaiter&) = delete;
    PollingWaiter& operator=(const PollingWaiter&) = delete;

   private:
    Transport& transport_;
    bool counted_;
  };
  // The owner of one posted MPI request: a send or an incoming message.
  struct Slot {
    std::shared_ptr<SendRequest> send;
    std::shared_ptr<Incoming> incoming;
  };

  bool poll_locked();
  bool receive_headers_locked();
  bool test_requests_locked();
  bool release_due_locked();
  void complete_slot_locked(const Slot& slot, double now);
  void deliver_locked(Message message, std::int64_t bytes);
  Message pop_locked(std::deque<Message>& queue, std::unique_lock<std::mutex>& lock);
  // Waits for progress: polls itself when busy waiting or when there is no
  // progress thread, otherwise sleeps until the progress thread signals.
  void wait_for_progress_locked(std::condition_variable& signal,
                                std::unique_lock<std::mutex>& lock);
  void record_link_event(Resource resource, int client, const MessageHeader& header, double start,
                         double end);
  void run_progress_thread();
  void drain();

  MPI_Comm comm_;
  int rank_;
  TransportOptions options_;

  mutable std::mutex mutex_;  // guards all below and serialises this object's MPI calls
  std::condition_variable inbox_ready_;
  std::condition_variable send_done_;
  std::condition_variable wake_;
  bool wake_requested_ = false;
  int polling_waiters_ = 0;  // threads that poll MPI themselves while they wait
  bool stopping_ = false;
  std::vector<MPI_Request> requests_;
  std::vector<Slot> slots_;  // slots_[i] owns requests_[i]
  std::deque<Message> inbox_;
  std::deque<Message> control_inbox_;
  std::multimap<double, Message> held_;  // by emulated arrival time
  int pending_sends_ = 0;
  std::vector<std::int64_t> bytes_sent_;
  std::vector<std::int64_t> bytes_received_;
  std::thread thread_;
  clockid_t progress_clock_{};  // the progress thread's CPU-time clock
  bool has_progress_clock_ = false;
};

// Converts between LibTorch dtypes and WireType; throws std::invalid_argument
// for a dtype that cannot cross the wire.
WireType wire_type(torch::ScalarType dtype);
torch::ScalarType scalar_type(WireType type);

}  // namespace pipar
