#include "migratectl/client.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"

namespace volmigrate::cli {

int Client::Connect() {
  if (stub_) return kOk;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (o_.plaintext) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    auto c = rpc::ClientCredentials(o_.tls);
    if (!c.ok()) {
      std::fprintf(stderr, "migratectl: %s (set --ca/--cert/--key or VOLMIGRATE_CA/_CERT/_KEY)\n",
                   std::string(c.status().message()).c_str());
      return kUsage;
    }
    creds = *c;
  }
  stub_ = v1::Operator::NewStub(rpc::Dial(o_.server, creds, o_.server_name));
  return kOk;
}

int Client::Watch(const std::string& id) {
  if (int rc = Connect(); rc != kOk) return rc;
  grpc::ClientContext ctx;
  v1::WatchMigrationRequest req;
  req.set_id(id);
  v1::Migration m;
  return Follow(stub_->WatchMigration(&ctx, req), &m, "migration",
                [](const v1::Migration& mm) { return ProgressLine(mm, 30); });
}

int Client::WatchTransfer(const std::string& id) {
  if (int rc = Connect(); rc != kOk) return rc;
  grpc::ClientContext ctx;
  v1::GetTransferRequest req;
  req.set_id(id);
  v1::Transfer t;
  int rc = Follow(stub_->WatchTransfer(&ctx, req), &t, "transfer",
                  [](const v1::Transfer& tt) { return TransferLine(tt, 30); });
  if (rc == kOk && !o_.json) std::cout << TransferSummary(t);
  return rc;
}

template <typename Msg, typename Line>
int Client::Follow(std::unique_ptr<grpc::ClientReader<Msg>> reader, Msg* m, const char* what, Line line) {
  bool tty = isatty(STDOUT_FILENO) && !o_.json;
  bool any = false;
  while (reader->Read(m)) {
    any = true;
    if (o_.json) {
      std::cout << ToJson(*m) << std::endl;
    } else if (tty) {
      std::cout << "\r" << m->id() << " " << line(*m) << "\033[K" << std::flush;
    } else {
      std::cout << m->id() << " " << line(*m) << std::endl;
    }
  }
  if (tty && any) std::cout << "\n";
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Error(s);
  if (m->state() != "DONE") {
    if (!o_.json)
      std::fprintf(stderr, "migratectl: %s %s ended %s%s%s\n", what, m->id().c_str(), m->state().c_str(),
                   m->error().empty() ? "" : ": ", m->error().c_str());
    return kMigrationFailed;
  }
  return kOk;
}

namespace {

// One poll of every migration a WatchMany follows.
struct Round {
  bool all_done = true;
  uint64_t done = 0, total = 0;
  std::vector<std::string> lines;  // one per migration, for the terminal
  std::string drain;               // the drain's line, if one is followed
  bool changed = false;            // some migration changed since the last round
};

// Redraws the block of lines the previous round drew (cursor up, then over).
void Draw(const Round& r, int* drawn) {
  if (*drawn) std::cout << "\033[" << *drawn << "A";
  for (const auto& l : r.lines) std::cout << "\r" << l << "\033[K\n";
  std::cout << "\rtotal " << FormatBytes(r.done) << " of " << FormatBytes(r.total);
  if (!r.drain.empty()) std::cout << "; " << r.drain;
  std::cout << "\033[K\n" << std::flush;
  *drawn = static_cast<int>(r.lines.size()) + 1;
}

}  // namespace

int Client::WatchMany(const std::vector<std::string>& ids, const std::string& drain) {
  if (ids.empty()) return kOk;
  if (int rc = Connect(); rc != kOk) return rc;
  bool tty = isatty(STDOUT_FILENO) && !o_.json;
  std::map<std::string, v1::Migration> last;
  int drawn = 0;
  for (;;) {
    Round r;
    for (const std::string& id : ids) {
      grpc::ClientContext ctx;
      SetDeadline(ctx);
      v1::GetMigrationRequest req;
      req.set_id(id);
      v1::Migration m;
      if (grpc::Status s = stub_->GetMigration(&ctx, req, &m); !s.ok()) return Error(s);
      m.clear_history();
      r.all_done &= m.terminal();
      r.done += m.progress().hydrated_bytes();
      r.total += m.progress().total_bytes();
      bool changed = last[id].SerializeAsString() != m.SerializeAsString();
      if (o_.json && changed) std::cout << ToJson(m) << std::endl;
      if (!tty && !o_.json && changed) std::cout << id << " " << ProgressLine(m, 30) << std::endl;
      r.lines.push_back(absl::StrCat(id, " ", ProgressLine(m, 30)));
      r.changed |= changed;
      last[id] = m;
    }
    if (!drain.empty() && !o_.json) {
      grpc::ClientContext ctx;
      SetDeadline(ctx);
      v1::GetDrainRequest req;
      req.set_id(drain);
      v1::Drain d;
      // An older workerd without GetDrain: no drain line, the watch goes on.
      if (stub_->GetDrain(&ctx, req, &d).ok()) r.drain = DrainLine(d);
    }
    if (!tty && !o_.json && r.changed && !r.drain.empty()) std::cout << r.drain << std::endl;
    if (tty) Draw(r, &drawn);
    if (r.all_done) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a poll interval, not a wait for a condition
  }
  for (const auto& [id, m] : last)
    if (m.state() != "DONE") return kMigrationFailed;
  return kOk;
}

int Client::Error(const grpc::Status& s) {
  if (o_.json) std::cout << ErrorJson(s) << "\n";
  std::string hint;
  if (s.error_code() == grpc::UNAVAILABLE || s.error_code() == grpc::DEADLINE_EXCEEDED)
    hint = absl::StrCat(" (workerd at ", o_.server, ")");
  std::fprintf(stderr, "migratectl: %s%s\n", ErrorLine(s).c_str(), hint.c_str());
  return ExitCodeFor(s.error_code());
}

void Client::SetDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(o_.timeout * 1000)));
}

}  // namespace volmigrate::cli
