// Message header helpers.
#include "pipar/message.hpp"

namespace pipar {

const char* to_string(MessageKind kind) {
  switch (kind) {
    case MessageKind::kActivation:
      return "activation";
    case MessageKind::kGradient:
      return "gradient";
    case MessageKind::kClientModel:
      return "client model";
    case MessageKind::kGlobalModel:
      return "global model";
    case MessageKind::kEvents:
      return "events";
  }
  return "unknown";
}

std::size_t element_size(WireType type) {
  switch (type) {
    case WireType::kFloat32:
      return 4;
    case WireType::kFloat64:
    case WireType::kInt64:
      return 8;
    case WireType::kUInt8:
      return 1;
  }
  return 0;
}

std::int64_t TensorSpec::numel() const {
  std::int64_t count = 1;
  for (int i = 0; i < dims; ++i) count *= shape[i];
  return count;
}

std::string describe(const MessageHeader& header) {
  return std::string(to_string(header.kind)) + " message (client " +
         std::to_string(header.client) + ", round " + std::to_string(header.round) + ", batch " +
         std::to_string(header.batch) + ", micro-batch " + std::to_string(header.micro_batch) +
         " of " + std::to_string(header.micro_batch_count) + ")";
}

}  // namespace pipar
