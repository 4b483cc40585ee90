// The transition diagrams drawn in the machines' headers, read back so a test
// can hold each drawing equal to its MachineDef. A drawing is a block
//
//   // @verbatim KIND
//   //   state       its step goes to        a cancel goes to
//   //   A         -> B C                    | UNDO   (a note)
//   // @endverbatim
//
// one line per state with a step: where it may go, then after "|" where a
// cancel takes it. Parenthesised notes are for the reader.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fsm/runner.h"

namespace volmigrate::fsm {

struct Drawing {
  std::map<std::string, std::set<std::string>> edges;
  std::map<std::string, std::string> cancel_to;
};

// The "@verbatim kind" block of `text`; NotFound without one, InvalidArgument
// for a line that is neither the column heading nor "STATE -> ...".
absl::StatusOr<Drawing> ParseDrawing(absl::string_view text, absl::string_view kind);

// What differs between a drawing and a definition, one line each; empty when
// they hold the same edges and cancels.
std::string CompareDrawing(const Drawing& drawn, const MachineDef& def);

// Every machine's drawing in `text` against its definition: what differs or
// cannot be read, prefixed with the machine's kind; empty when all match.
std::string CheckDrawings(absl::string_view text, const std::vector<MachineDef>& defs);

}  // namespace volmigrate::fsm
