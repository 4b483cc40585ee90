// Who may start what on a volume, decided in one place that every operation
// calls: create, delete, attach, detach, migrate (alone or in a drain), seal
// and ship, unseal, and the arrivals (an accepted offer, a restore).
//
// The state store is the authority on who holds a volume (fsm/store.h: one
// holder per volume, taken in the same LMDB transaction that creates a
// machine, or as an in-memory lease for a request). This module asks it, adds
// the rules that depend on the volume's state on the node (a sealed volume is
// opened only by unseal, and moved only after it), and words each refusal
// with what the operator can do about it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "fsm/store.h"
#include "host/host.h"

namespace volmigrate::admission {

enum class Op {
  kCreate,
  kDelete,
  kAttach,
  kDetach,
  kMigrate,  // out of this worker, alone or in a drain
  kSeal,     // seal, or seal and ship
  kUnseal,
  kArrive,   // a volume of that name made here by a machine: an accepted offer, a restore
};

// What a decision looks at.
struct Node {
  fsm::Store* store = nullptr;
  host::Host* host = nullptr;
};

// Refuses `op` on `volume` now: FailedPrecondition naming the holder while a
// machine or a request holds it, or saying what to do first when the volume's
// state refuses `op`. For an operation that becomes a machine this is the
// early answer, before slow checks; the machine's claim, taken with its
// record, still decides.
absl::Status Check(const Node& node, Op op, const std::string& volume);

// Holds `volume` for `op` (the same rules as Check, then held until the lease
// goes): for a request that runs within one call, or, for kArrive, from the
// check that no such volume exists until the machine that makes it holds it.
// `holder` is what others' refusals name: a machine id; "" names the request
// ("a delete request").
absl::StatusOr<fsm::Lease> Hold(const Node& node, Op op, const std::string& volume, const std::string& holder = "");

struct Holder {
  std::string id;    // "" when the volume is free
  std::string kind;  // the holding machine's kind; "" for a request's lease
};
absl::StatusOr<Holder> HolderOf(const Node& node, const std::string& volume);

}  // namespace volmigrate::admission
