// Tensor messages over non-blocking MPI with a polling progress thread.
#include "pipar/transport.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <exception>
#include <pthread.h>
#include <sstream>
#include <stdexcept>

#include "pipar/error.hpp"
#include "pipar/log.hpp"

namespace pipar {
namespace {

// Tags reserved for Transport traffic on its communicator.
constexpr int kHeaderTag = 101;
constexpr int kPayloadTag = 102;

// Sleep right after a poll that found work: short enough to follow a
// rendezvous handshake closely, long enough not to spin.
constexpr int kMinPollIntervalUs = 5;

std::string describe_tensor(const torch::Tensor& tensor) {
  std::ostringstream text;
  text << "tensor of shape " << tensor.sizes() << " and dtype " << tensor.dtype();
  return text.str();
}

TensorSpec check_and_describe(const torch::Tensor& tensor, std::size_t index) {
  if (!tensor.defined()) {
    throw std::invalid_argument("tensor " + std::to_string(index) + " of the message is undefined");
  }
  if (!tensor.device().is_cpu() || !tensor.is_contiguous()) {
    throw std::invalid_argument("cannot send " + describe_tensor(tensor) +
                                ": it must be contiguous and on the CPU");
  }
  if (tensor.dim() > kMaxTensorDims) {
    throw std::invalid_argument("cannot send " + describe_tensor(tensor) + ": more than " +
                                std::to_string(kMaxTensorDims) + " dimensions");
  }
  if (tensor.nbytes() > static_cast<std::size_t>(INT_MAX)) {
    throw std::invalid_argument("cannot send " + describe_tensor(tensor) +
                                ": larger than INT_MAX bytes");
  }
  TensorSpec spec;
  spec.type = wire_type(tensor.scalar_type());
  spec.dims = static_cast<std::int32_t>(tensor.dim());
  for (int d = 0; d < spec.dims; ++d) spec.shape[d] = tensor.size(d);
  return spec;
}

}  // namespace

WireType wire_type(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return WireType::kFloat32;
    case torch::kFloat64:
      return WireType::kFloat64;
    case torch::kInt64:
      return WireType::kInt64;
    case torch::kUInt8:
      return WireType::kUInt8;
    default:
      throw std::invalid_argument(std::string("dtype ") + c10::toString(dtype) +
                                  " cannot be sent; use float32, float64, int64 or uint8");
  }
}

torch::ScalarType scalar_type(WireType type) {
  switch (type) {
    case WireType::kFloat32:
      return torch::kFloat32;
    case WireType::kFloat64:
      return torch::kFloat64;
    case WireType::kInt64:
      return torch::kInt64;
    case WireType::kUInt8:
      return torch::kUInt8;
  }
  throw std::invalid_argument("unknown wire type " + std::to_string(static_cast<int>(type)));
}

struct Transport::Incoming {
  Message message;
  int outstanding = 0;
  std::int64_t bytes = 0;
};

Transport::Transport(const mpi::Communicator& comm, TransportOptions options)
    : comm_(comm.get()),
      rank_(comm.rank()),
      options_(options),
      bytes_sent_(static_cast<std::size_t>(comm.size()), 0),
      bytes_received_(static_cast<std::size_t>(comm.size()), 0) {
  if (options_.progress_thread) {
    thread_ = std::thread([this] { run_progress_thread(); });
    has_progress_clock_ = pthread_getcpuclockid(thread_.native_handle(), &progress_clock_) == 0;
  }
}

double Transport::progress_thread_cpu_seconds() const {
  if (!has_progress_clock_) return 0.0;
  timespec now{};
  if (clock_gettime(progress_clock_, &now) != 0) return 0.0;
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

Transport::~Transport() {
  // While an exception unwinds, the peers may never complete our requests,
  // and the caller is about to report the error and call MPI_Abort. Waiting
  // would only delay that, so the requests and their buffers are leaked
  // instead: MPI may still write into the buffers until the abort.
  const bool unwinding = std::uncaught_exceptions() > 0;
  if (!unwinding) {
    try {
      drain();
    } catch (const std::exception& error) {
      log::error("transport shutdown failed: ", error.what(), "; aborting");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (unwinding && !slots_.empty()) {
    new std::vector<Slot>(std::move(slots_));  // deliberately leaked, see above
  }
}

void Transport::drain() {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(options_.drain_timeout_s);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!requests_.empty()) {
    if (!thread_.joinable()) poll_locked();
    if (Clock::now() > deadline) {
      log::error("transport destroyed with ", requests_.size(),
                 " MPI requests still incomplete after ", options_.drain_timeout_s,
                 " s; aborting so that no rank waits forever");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    send_done_.wait_for(lock, std::chrono::milliseconds(1));
  }
}

std::shared_ptr<const SendRequest> Transport::send(int destination, MessageHeader header,
                                                   std::vector<torch::Tensor> tensors) {
  if (tensors.size() > static_cast<std::size_t>(kMaxMessageTensors)) {
    throw std::invalid_argument("a message carries at most " +
                                std::to_string(kMaxMessageTensors) + " tensors, got " +
                                std::to_string(tensors.size()));
  }
  auto request = std::make_shared<SendRequest>();
  header.magic = kMessageMagic;
  header.tensor_count = static_cast<std::int32_t>(tensors.size());
  header.arrival_time = 0.0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    header.tensors[i] = check_and_describe(tensors[i], i);
  }
  std::int64_t bytes = sizeof(MessageHeader);
  for (const auto& tensor : tensors) bytes += static_cast<std::int64_t>(tensor.nbytes());

  std::lock_guard<std::mutex> lock(mutex_);
  header.send_time = options_.clock.now();
  const bool training = is_training_traffic(header.kind);
  if (training && options_.emulator != nullptr) {
    const Transmission transmission =
        options_.emulator->transmit(destination, Direction::kDownlink, header.send_time, bytes);
    header.arrival_time = transmission.arrival;
    record_link_event(Resource::kDownlink, destination, header, transmission.start,
                      transmission.end);
  }
  request->header_ = header;
  request->destination_ = destination;
  request->tensors_ = std::move(tensors);

  MPI_Request mpi_request = MPI_REQUEST_NULL;
  mpi::check(MPI_Isend(&request->header_, sizeof(MessageHeader), MPI_BYTE, destination,
                       kHeaderTag, comm_, &mpi_request),
             "MPI_Isend");
  requests_.push_back(mpi_request);
  slots_.push_back(Slot{request, nullptr});
  request->outstanding_ = 1;

  for (const auto& tensor : request->tensors_) {
    if (tensor.nbytes() == 0) continue;
    mpi::check(MPI_Isend(tensor.data_ptr(), static_cast<int>(tensor.nbytes()), MPI_BYTE,
                         destination, kPayloadTag, comm_, &mpi_request),
               "MPI_Isend");
    requests_.push_back(mpi_request);
    slots_.push_back(Slot{request, nullptr});
    request->outstanding_ += 1;
  }
  if (training) bytes_sent_.at(static_cast<std::size_t>(destination)) += bytes;
  pending_sends_ += 1;
  // A thread that polls while it waits will progress the send; otherwise the
  // progress thread must start it at once.
  if (polling_waiters_ == 0) {
    wake_requested_ = true;
    wake_.notify_one();
  }
  return request;
}

void Transport::record_link_event(Resource resource, int client, const MessageHeader& header,
                                  double start, double end) {
  if (options_.link_events == nullptr) return;
  Event event;
  event.resource = resource;
  event.client = client;
  event.kind = resource == Resource::kUplink ? EventKind::kUpload : EventKind::kDownload;
  event.round = header.round;
  event.batch = header.batch;
  event.micro_batch = header.micro_batch;
  event.start = start;
  event.end = end;
  options_.link_events->add(event);
}

Message Transport::pop_locked(std::deque<Message>& queue, std::unique_lock<std::mutex>& lock) {
  const PollingWaiter waiter(*this);
  while (queue.empty()) wait_for_progress_locked(inbox_ready_, lock);
  Message message = std::move(queue.front());
  queue.pop_front();
  return message;
}

void Transport::wait_for_progress_locked(std::condition_variable& signal,
                                         std::unique_lock<std::mutex>& lock) {
  if (thread_.joinable() && !options_.busy_wait) {
    signal.wait(lock);
    return;
  }
  if (poll_locked()) return;
  lock.unlock();
  if (options_.busy_wait) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(options_.max_poll_interval_us));
  }
  lock.lock();
}

Message Transport::receive() {
  std::unique_lock<std::mutex> lock(mutex_);
  return pop_locked(inbox_, lock);
}

Message Transport::receive_control() {
  std::unique_lock<std::mutex> lock(mutex_);
  return pop_locked(control_inbox_, lock);
}

void Transport::wait(const SendRequest& request) {
  std::unique_lock<std::mutex> lock(mutex_);
  const PollingWaiter waiter(*this);
  while (!request.done()) wait_for_progress_locked(send_done_, lock);
}

void Transport::wait_all_sends() {
  std::unique_lock<std::mutex> lock(mutex_);
  const PollingWaiter waiter(*this);
  while (pending_sends_ > 0) wait_for_progress_locked(send_done_, lock);
}

std::int64_t Transport::bytes_sent_to(int rank) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_sent_.at(static_cast<std::size_t>(rank));
}

std::int64_t Transport::bytes_received_from(int rank) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_received_.at(static_cast<std::size_t>(rank));
}

bool Transport::poll_locked() {
  const bool received = receive_headers_locked();
  const bool completed = test_requests_locked();
  const bool released = release_due_locked();
  return received || completed || released;
}

// Moves held messages whose emulated arrival time has come to the inbox.
bool Transport::release_due_locked() {
  if (held_.empty()) return false;
  const double now = options_.clock.now();
  bool released = false;
  while (!held_.empty() && held_.begin()->first <= now) {
    inbox_.push_back(std::move(held_.begin()->second));
    held_.erase(held_.begin());
    released = true;
  }
  if (released) inbox_ready_.notify_all();
  return released;
}

// Routes a completely received message. Control messages go to their own
// queue. Training messages cross the emulated uplink (on the server) or wait
// for the arrival time that the sender's emulator set (on a client).
void Transport::deliver_locked(Message message, std::int64_t bytes) {
  const double now = options_.clock.now();
  message.completion_time = now;
  message.bytes = bytes;
  const MessageHeader& header = message.header;
  if (!is_training_traffic(header.kind)) {
    control_inbox_.push_back(std::move(message));
    inbox_ready_.notify_all();
    return;
  }
  bytes_received_.at(static_cast<std::size_t>(message.source)) += bytes;

  double release = std::max(now, header.arrival_time);
  if (options_.emulator != nullptr) {
    // NOTE: the emulator learns of an upload only when it has really arrived,
    // microseconds after it was posted. In half duplex a download posted in
    // that gap is queued ahead of it although it was posted later.
    const Transmission transmission =
        options_.emulator->transmit(message.source, Direction::kUplink, header.send_time, bytes);
    record_link_event(Resource::kUplink, message.source, header, transmission.start,
                      transmission.end);
    release = std::max(now, transmission.arrival);
  } else {
    record_link_event(Resource::kUplink, message.source, header, header.send_time, now);
  }
  if (release > now) {
    held_.emplace(release, std::move(message));
    wake_requested_ = true;
    return;
  }
  inbox_.push_back(std::move(message));
  inbox_ready_.notify_all();
}

// Matches every header that has arrived and posts the receives of its
// tensors. Receives from one sender are posted in the order of its headers,
// and MPI keeps messages from one sender on one tag in order, so each tensor
// lands in the buffer allocated from its own header.
bool Transport::receive_headers_locked() {
  bool found_any = false;
  while (true) {
    int flag = 0;
    MPI_Message probed = MPI_MESSAGE_NULL;
    MPI_Status status;
    mpi::check(MPI_Improbe(MPI_ANY_SOURCE, kHeaderTag, comm_, &flag, &probed, &status),
               "MPI_Improbe");
    if (!flag) return found_any;
    found_any = true;

    auto incoming = std::make_shared<Incoming>();
    Message& message = incoming->message;
    message.source = status.MPI_SOURCE;
    mpi::check(MPI_Mrecv(&message.header, sizeof(MessageHeader), MPI_BYTE, &probed, &status),
               "MPI_Mrecv");
    const MessageHeader& header = message.header;
    if (header.magic != kMessageMagic || header.tensor_count < 0 ||
        header.tensor_count > kMaxMessageTensors) {
      throw ProtocolError("rank " + std::to_string(rank_) + " received a malformed header from rank " +
                          std::to_string(message.source));
    }
    std::int64_t bytes = sizeof(MessageHeader);
    for (int i = 0; i < header.tensor_count; ++i) {
      const TensorSpec& spec = header.tensors[i];
      std::vector<std::int64_t> shape(spec.shape, spec.shape + spec.dims);
      torch::Tensor tensor = torch::empty(shape, torch::TensorOptions().dtype(scalar_type(spec.type)));
      message.tensors.push_back(tensor);
      if (tensor.nbytes() == 0) continue;
      MPI_Request mpi_request = MPI_REQUEST_NULL;
      mpi::check(MPI_Irecv(tensor.data_ptr(), static_cast<int>(tensor.nbytes()), MPI_BYTE,
                           message.source, kPayloadTag, comm_, &mpi_request),
                 "MPI_Irecv");
      requests_.push_back(mpi_request);
      slots_.push_back(Slot{nullptr, incoming});
      incoming->outstanding += 1;
      bytes += static_cast<std::int64_t>(tensor.nbytes());
    }
    incoming->bytes = bytes;
    if (incoming->outstanding == 0) deliver_locked(std::move(message), bytes);
  }
}

bool Transport::test_requests_locked() {
  if (requests_.empty()) return false;
  int completed = 0;
  std::vector<int> indices(requests_.size());
  mpi::check(MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &completed,
                          indices.data(), MPI_STATUSES_IGNORE),
             "MPI_Testsome");
  if (completed == MPI_UNDEFINED || completed == 0) return false;

  const double now = options_.clock.now();
  for (int i = 0; i < completed; ++i) {
    complete_slot_locked(slots_[static_cast<std::size_t>(indices[static_cast<std::size_t>(i)])], now);
  }
  // MPI_Testsome set the completed requests to MPI_REQUEST_NULL; drop them.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < requests_.size(); ++i) {
    if (requests_[i] == MPI_REQUEST_NULL) continue;
    requests_[kept] = requests_[i];
    slots_[kept] = std::move(slots_[i]);
    ++kept;
  }
  requests_.resize(kept);
  slots_.resize(kept);
  return true;
}

void Transport::complete_slot_locked(const Slot& slot, double now) {
  if (slot.send) {
    SendRequest& request = *slot.send;
    if (--request.outstanding_ > 0) return;
    request.completion_time_ = now;
    request.tensors_.clear();
    if (options_.emulator == nullptr && is_training_traffic(request.header_.kind)) {
      record_link_event(Resource::kDownlink, request.destination_, request.header_,
                        request.header_.send_time, now);
    }
    request.done_.store(true, std::memory_order_release);
    pending_sends_ -= 1;
    send_done_.notify_all();
    return;
  }
  Incoming& incoming = *slot.incoming;
  if (--incoming.outstanding > 0) return;
  deliver_locked(std::move(incoming.message), incoming.bytes);
}

void Transport::run_progress_thread() {
  std::unique_lock<std::mutex> lock(mutex_);
  int interval_us = kMinPollIntervalUs;
  while (!stopping_) {
    bool active = false;
    try {
      if (polling_waiters_ == 0) active = poll_locked();
    } catch (const std::exception& error) {
      log::error("progress thread failed: ", error.what(), "; aborting");
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    interval_us = active ? kMinPollIntervalUs
                         : std::min(interval_us * 2, options_.max_poll_interval_us);
    // While a waiting thread polls, this thread would only compete with it
    // for the lock and, on a full node, for the core.
    if (polling_waiters_ > 0) interval_us = options_.max_poll_interval_us;
    auto sleep = std::chrono::microseconds(interval_us);
    if (!held_.empty()) {
      // Wake for the next emulated arrival rather than up to a poll late.
      const double until_next = held_.begin()->first - options_.clock.now();
      sleep = std::min(sleep, std::chrono::microseconds(std::max<std::int64_t>(
                                  0, static_cast<std::int64_t>(until_next * 1e6))));
    }
    wake_.wait_for(lock, sleep, [this] { return wake_requested_ || stopping_; });
    wake_requested_ = false;
  }
}

}  // namespace pipar
