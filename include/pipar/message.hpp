// The self-describing header that precedes every tensor message between ranks.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

namespace pipar {

enum class MessageKind : std::int32_t {
  kActivation = 1,   // client -> server: cut-layer activations and labels of a micro-batch
  kGradient = 2,     // server -> client: gradient of the loss w.r.t. those activations
  kClientModel = 3,  // client -> server: the client's model state after its local training
  kGlobalModel = 4,  // server -> client: the model state to start local training from
  kEvents = 5,       // client -> server: a round's timed events; control, not training traffic
};

// Training traffic crosses the emulated links and counts in the byte totals;
// control messages do neither.
inline bool is_training_traffic(MessageKind kind) { return kind != MessageKind::kEvents; }

const char* to_string(MessageKind kind);

// Element types that may cross the wire, with fixed codes so that ranks built
// against different LibTorch versions still agree.
enum class WireType : std::int32_t { kFloat32 = 1, kFloat64 = 2, kInt64 = 3, kUInt8 = 4 };

std::size_t element_size(WireType type);

constexpr std::uint32_t kMessageMagic = 0x50695061;  // "PiPa"
constexpr int kMaxMessageTensors = 4;
constexpr int kMaxTensorDims = 6;

struct TensorSpec {
  WireType type = WireType::kFloat32;
  std::int32_t dims = 0;
  std::int64_t shape[kMaxTensorDims] = {};

  std::int64_t numel() const;
  std::int64_t bytes() const { return numel() * static_cast<std::int64_t>(element_size(type)); }
};

// Sent as raw bytes (MPI_BYTE) before the tensors it describes, so that the
// receiver allocates each tensor before receiving it and checks every message
// against the round, batch and micro-batch it expects.
struct MessageHeader {
  std::uint32_t magic = kMessageMagic;
  MessageKind kind = MessageKind::kActivation;
  std::int32_t client = -1;  // 1..K, the client the message is from or for
  std::int32_t round = -1;
  std::int32_t batch = -1;             // within the round
  std::int32_t micro_batch = -1;       // 0..micro_batch_count-1
  std::int32_t micro_batch_count = 0;  // in this batch
  std::int32_t tensor_count = 0;
  std::int64_t batch_samples = 0;  // samples in the whole batch, for loss scaling
  std::int64_t samples = 0;        // FedAvg weight of a client model: its shard size
  std::int64_t trained_samples = 0;  // samples a client trained on, with loss_sum
  double loss_sum = 0.0;             // summed training loss a client computed itself (FL)
  double send_time = 0.0;     // shared clock (clock.hpp) when the send was posted
  double arrival_time = 0.0;  // emulated arrival on the shared clock; 0 without emulation
  TensorSpec tensors[kMaxMessageTensors];
};

static_assert(std::is_trivially_copyable_v<MessageHeader>,
              "MessageHeader is sent as raw bytes");

// One line naming the kind and the indices, for error messages and logs.
std::string describe(const MessageHeader& header);

}  // namespace pipar
