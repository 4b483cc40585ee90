#include "admission/admission.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace volmigrate::admission {
namespace {

const char* Request(Op op) {
  switch (op) {
    case Op::kCreate: return "a create request";
    case Op::kDelete: return "a delete request";
    case Op::kAttach: return "an attach request";
    case Op::kDetach: return "a detach request";
    case Op::kMigrate: return "a migrate request";
    case Op::kSeal: return "a seal request";
    case Op::kUnseal: return "an unseal request";
    case Op::kArrive: return "an arriving volume";
  }
  return "a request";
}

// The rules of the volume's state. A sealed volume is closed with its point
// kept as a snapshot: opening it by hand, or moving it, would leave that point
// behind a volume that changed (or on another worker).
absl::Status CheckState(const Node& node, Op op, const std::string& volume) {
  if (op != Op::kAttach && op != Op::kMigrate) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<std::string> sealed, node.host->SealedSnapshots(volume));
  if (sealed.empty()) return absl::OkStatus();
  if (op == Op::kAttach)
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume, " is sealed: unseal opens it and starts its consumer"));
  return absl::FailedPreconditionError(absl::StrCat(
      "volume ", volume, " is sealed: unseal it before migrating it, or restore its shipped log on the destination"));
}

}  // namespace

absl::Status Check(const Node& node, Op op, const std::string& volume) {
  RETURN_IF_ERROR(node.store->CheckFree(volume));
  return CheckState(node, op, volume);
}

absl::StatusOr<fsm::Lease> Hold(const Node& node, Op op, const std::string& volume, const std::string& holder) {
  ASSIGN_OR_RETURN(fsm::Lease lease, node.store->Hold(volume, holder.empty() ? Request(op) : holder));
  RETURN_IF_ERROR(CheckState(node, op, volume));  // cannot change while held
  return lease;
}

absl::StatusOr<Holder> HolderOf(const Node& node, const std::string& volume) {
  Holder h;
  ASSIGN_OR_RETURN(h.id, node.store->HolderOf(volume));
  if (h.id.empty()) return h;
  auto r = node.store->Get(h.id);
  if (r.ok()) {
    h.kind = r->kind();
  } else if (!absl::IsNotFound(r.status())) {
    return r.status();
  }
  return h;
}

}  // namespace volmigrate::admission
