#include "fsm/diagram.h"

#include <gtest/gtest.h>

namespace volmigrate::fsm {
namespace {

constexpr char kHeader[] = R"(
// Some prose -> with an arrow that is not a drawing.
//
// @verbatim m
//   state     its step goes to      a cancel goes to
//   A       -> B UNDO               | UNDO   (a note -> ignored)
//   B       -> DONE A
//   UNDO    -> ABORTED
// @endverbatim
)";

MachineDef Def() {
  MachineDef d;
  d.edges = {{"A", {"B", "UNDO"}}, {"B", {"DONE", "A"}}, {"UNDO", {"ABORTED"}}};
  d.cancel_to = {{"A", "UNDO"}};
  return d;
}

TEST(Diagram, ReadsEdgesAndCancelsOfOneBlock) {
  auto d = ParseDrawing(kHeader, "m");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->edges.at("A"), (std::set<std::string>{"B", "UNDO"}));
  EXPECT_EQ(d->cancel_to.at("A"), "UNDO");
  EXPECT_EQ(CompareDrawing(*d, Def()), "");
  EXPECT_EQ(ParseDrawing(kHeader, "other").status().code(), absl::StatusCode::kNotFound);
}

TEST(Diagram, NamesEveryDifference) {
  auto d = ParseDrawing(kHeader, "m");
  ASSERT_TRUE(d.ok());
  MachineDef def = Def();
  def.edges["B"].erase("A");          // a back edge drawn but not in the table
  def.edges["C"] = {"DONE"};          // a state not drawn
  def.cancel_to["B"] = "UNDO";        // a cancel not drawn
  std::string diff = CompareDrawing(*d, def);
  EXPECT_NE(diff.find("B -> DONE in the table, -> A DONE drawn"), std::string::npos) << diff;
  EXPECT_NE(diff.find("C is not drawn"), std::string::npos) << diff;
  EXPECT_NE(diff.find("cancels:"), std::string::npos) << diff;
}

TEST(Diagram, RefusesALineItCannotRead) {
  EXPECT_FALSE(ParseDrawing("// @verbatim m\n//   A B C\n// @endverbatim\n", "m").ok());
  EXPECT_FALSE(ParseDrawing("// @verbatim m\n//   A -> B\n//   A -> C\n", "m").ok());
  EXPECT_FALSE(ParseDrawing("// @verbatim m\n//   A -> B | C D\n", "m").ok());
}

}  // namespace
}  // namespace volmigrate::fsm
