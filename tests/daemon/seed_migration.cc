// Leaves in a workerd's state store what a finished incoming migration
// leaves: one DONE migration-in record with its blackout and hydration times.
// For the metrics test on the host, where no migration can run.
//   seed_migration STATE_DIR ID BLACKOUT_SECONDS HYDRATION_SECONDS
#include <cstdio>
#include <string>

#include "fsm/store.h"
#include "migration/machines.h"
#include "migration/state.pb.h"

int main(int argc, char** argv) {
  using namespace volmigrate;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s STATE_DIR ID BLACKOUT_SECONDS HYDRATION_SECONDS\n", argv[0]);
    return 2;
  }
  auto store = fsm::Store::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  migration::MigrationState st;
  st.mutable_view()->set_volume_id("vol-1");
  st.mutable_view()->set_source_worker("w1");
  st.mutable_view()->set_destination_worker("w2");
  st.mutable_view()->set_blackout_seconds(std::stod(argv[3]));
  st.mutable_view()->set_hydration_seconds(std::stod(argv[4]));
  fsm::Record r;
  r.set_id(argv[2]);
  r.set_kind(migration::kInKind);
  r.set_state("DONE");
  r.set_terminal(true);
  r.set_data(st.SerializeAsString());
  if (absl::Status s = (*store)->Create(r); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
