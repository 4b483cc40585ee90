#include "fsm/diagram.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace volmigrate::fsm {
namespace {

std::set<std::string> Words(absl::string_view s) {
  std::set<std::string> out;
  for (absl::string_view w : absl::StrSplit(s, ' ', absl::SkipWhitespace())) out.emplace(w);
  return out;
}

// "A -> B C | UNDO (note)" into the drawing.
absl::Status ParseLine(absl::string_view line, Drawing& d) {
  absl::string_view body = line.substr(0, line.find('('));
  std::vector<absl::string_view> sides = absl::StrSplit(body, absl::MaxSplits("->", 1));
  if (sides.size() != 2) return absl::InvalidArgumentError(absl::StrCat("not a state's line: '", line, "'"));
  std::string state(absl::StripAsciiWhitespace(sides[0]));
  std::vector<absl::string_view> parts = absl::StrSplit(sides[1], absl::MaxSplits('|', 1));
  if (state.empty() || d.edges.contains(state))
    return absl::InvalidArgumentError(absl::StrCat("state drawn twice or unnamed: '", line, "'"));
  d.edges[state] = Words(parts[0]);
  if (parts.size() == 2) {
    std::set<std::string> to = Words(parts[1]);
    if (to.size() != 1) return absl::InvalidArgumentError(absl::StrCat("a cancel goes to one state: '", line, "'"));
    d.cancel_to[state] = *to.begin();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Drawing> ParseDrawing(absl::string_view text, absl::string_view kind) {
  Drawing d;
  bool in = false, found = false;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (!absl::ConsumePrefix(&line, "//")) {
      in = false;
      continue;
    }
    line = absl::StripAsciiWhitespace(line);
    if (line == absl::StrCat("@verbatim ", kind)) {
      in = found = true;
    } else if (absl::StartsWith(line, "@endverbatim")) {
      in = false;
    } else if (in && !line.empty() && !absl::StartsWith(line, "state ")) {
      if (absl::Status s = ParseLine(line, d); !s.ok()) return s;
    }
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no \"@verbatim ", kind, "\" block"));
  return d;
}

std::string CompareDrawing(const Drawing& drawn, const MachineDef& def) {
  std::vector<std::string> diff;
  auto list = [](const std::set<std::string>& s) { return absl::StrJoin(s, " "); };
  for (const auto& [state, to] : def.edges) {
    auto it = drawn.edges.find(state);
    if (it == drawn.edges.end()) diff.push_back(absl::StrCat(state, " is not drawn"));
    else if (it->second != to)
      diff.push_back(absl::StrCat(state, " -> ", list(to), " in the table, -> ", list(it->second), " drawn"));
  }
  for (const auto& [state, to] : drawn.edges)
    if (!def.edges.contains(state)) diff.push_back(absl::StrCat(state, " is drawn but not in the table"));
  if (drawn.cancel_to != def.cancel_to) {
    std::vector<std::string> a, b;
    for (const auto& [s, t] : def.cancel_to) a.push_back(s + "|" + t);
    for (const auto& [s, t] : drawn.cancel_to) b.push_back(s + "|" + t);
    diff.push_back(absl::StrCat("cancels: ", absl::StrJoin(a, " "), " in the table, ", absl::StrJoin(b, " "),
                                " drawn"));
  }
  return absl::StrJoin(diff, "\n");
}

std::string CheckDrawings(absl::string_view text, const std::vector<MachineDef>& defs) {
  std::vector<std::string> out;
  for (const MachineDef& def : defs) {
    auto drawn = ParseDrawing(text, def.kind);
    std::string diff = drawn.ok() ? CompareDrawing(*drawn, def) : drawn.status().ToString();
    if (!diff.empty()) out.push_back(absl::StrCat(def.kind, ": ", diff));
  }
  return absl::StrJoin(out, "\n");
}

}  // namespace volmigrate::fsm
