// lsvd_bench: ship and restore throughput against the backend's own raw
// PUT/GET throughput, measured in the same run with the same object size and
// parallelism, and bytes shipped per byte allocated. The device is a file
// with a thin-pool-like allocation (runs of 64 KiB blocks); see
// scripts/bench_lsvd.sh for the runs against a directory and radosgw.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>

#include "common/files.h"
#include "lsvd/log.h"
#include "lsvd/thin.h"

using namespace volmigrate;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBlockSectors = 128;  // 64 KiB thin blocks
constexpr uint64_t kBlockBytes = kBlockSectors * lsvd::kSector;

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "lsvd_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }
double Mbs(uint64_t bytes, double s) { return static_cast<double>(bytes) / 1e6 / s; }

// Runs fn(0..n-1) on `parallel` threads.
void Parallel(size_t n, int parallel, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> t;
  for (int i = 0; i < parallel; ++i)
    t.emplace_back([&] {
      for (size_t k; (k = next++) < n;) fn(k);
    });
  for (auto& th : t) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::string store_arg = argc > 1 ? argv[1] : "";
  const uint64_t volume_mib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 512;
  const double allocated_frac = argc > 3 ? std::strtod(argv[3], nullptr) : 0.5;
  const uint64_t object_mib = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 8;
  const int parallel = argc > 5 ? std::atoi(argv[5]) : 4;
  if (store_arg.empty()) {
    std::fprintf(stderr, "usage: lsvd_bench dir:/path|s3 [volume_mib allocated_fraction object_mib parallel]\n"
                         "  s3 reads VOLMIGRATE_S3_ENDPOINT, VOLMIGRATE_S3_BUCKET and AWS_* credentials\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<objstore::ObjectStore>> st =
      store_arg.rfind("dir:", 0) == 0
          ? objstore::NewLocalStore(store_arg.substr(4))
          : objstore::NewS3Store({.endpoint = std::getenv("VOLMIGRATE_S3_ENDPOINT") ? std::getenv("VOLMIGRATE_S3_ENDPOINT") : "",
                                  .bucket = std::getenv("VOLMIGRATE_S3_BUCKET") ? std::getenv("VOLMIGRATE_S3_BUCKET") : ""});
  if (!st.ok()) Die("store", st.status());
  objstore::ObjectStore& store = **st;

  // The device: random runs of blocks, allocated_frac of the volume.
  const uint64_t blocks = volume_mib * (1 << 20) / kBlockBytes;
  std::mt19937_64 rng(42);
  std::vector<volumes::ThinRun> runs;
  for (uint64_t b = 0, data = 0; b < blocks;) {
    uint64_t len = std::min<uint64_t>(1 + rng() % 32, blocks - b);
    if (std::uniform_real_distribution<double>(0, 1)(rng) < allocated_frac) {
      runs.push_back({b, data, len});
      data += len;
    }
    b += len + (std::uniform_real_distribution<double>(0, 1)(rng) < allocated_frac ? 0 : rng() % 32);
  }
  char tmpl[] = "/tmp/lsvd-bench.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string dev = dir + "/device", out = dir + "/restored";
  {
    Fd fd(::open(dev.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
    if (::ftruncate(fd.get(), static_cast<off_t>(blocks * kBlockBytes)) != 0) Die("truncate", absl::InternalError(dev));
    std::string buf(kBlockBytes, '\0');
    for (const auto& r : runs)
      for (uint64_t b = r.origin; b < r.origin + r.length; ++b) {
        for (auto& c : buf) c = static_cast<char>(rng());
        if (::pwrite(fd.get(), buf.data(), buf.size(), static_cast<off_t>(b * kBlockBytes)) < 0) Die("write", absl::InternalError(dev));
      }
    ::fsync(fd.get());
  }
  uint64_t allocated = 0;
  for (const auto& r : runs) allocated += r.length * kBlockBytes;

  // Raw backend throughput: the same bytes as whole objects of the same size,
  // measured before and after the ship (and the restore) and averaged, after
  // a warm-up, so a backend's drift during the run does not bias the ratio.
  const uint64_t object_bytes = object_mib << 20;
  const size_t n_raw = std::max<uint64_t>(1, allocated / object_bytes);
  std::string payload(object_bytes, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  auto raw_put = [&](size_t n) {
    auto t0 = Clock::now();
    Parallel(n, parallel, [&](size_t i) {
      if (auto s = store.Put("bench-raw/" + std::to_string(i), payload); !s.ok()) Die("raw put", s);
    });
    return Mbs(n * object_bytes, Seconds(t0));
  };
  auto raw_get = [&](size_t n) {
    auto t0 = Clock::now();
    Parallel(n, parallel, [&](size_t i) {
      if (auto g = store.Get("bench-raw/" + std::to_string(i)); !g.ok()) Die("raw get", g.status());
    });
    return Mbs(n * object_bytes, Seconds(t0));
  };
  raw_put(std::min<size_t>(n_raw, 2 * parallel));  // warm-up
  raw_get(std::min<size_t>(n_raw, 2 * parallel));
  const double raw_write1 = raw_put(n_raw);

  // Ship: plan from the allocation, upload every object, checkpoint.
  if (auto s = lsvd::TruncateLog(store, "bench-vol/", 0); !s.ok()) Die("clean", s);
  lsvd::PointPlan plan{.prefix = "bench-vol/", .point = 1, .first_seq = 1, .volume_bytes = blocks * kBlockBytes};
  plan.objects = lsvd::PlanObjects(lsvd::ChangedRanges({}, runs, kBlockSectors, blocks * kBlockSectors), object_bytes);
  std::vector<size_t> all(plan.objects.size());
  std::iota(all.begin(), all.end(), 0);
  auto t = Clock::now();
  Fd in(::open(dev.c_str(), O_RDONLY));
  auto sent = lsvd::UploadObjects(store, plan, in.get(), all, {.parallel = parallel});
  if (!sent.ok()) Die("ship", sent.status());
  auto cp = lsvd::WriteCheckpoint(store, plan, {});
  if (!cp.ok()) Die("checkpoint", cp.status());
  const double ship_s = Seconds(t);
  const uint64_t shipped = *sent + cp->header_bytes;
  const double raw_write = (raw_write1 + raw_put(n_raw)) / 2;
  const double raw_read1 = raw_get(n_raw);

  // Restore into a new file.
  Fd o(::open(out.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
  if (::ftruncate(o.get(), static_cast<off_t>(blocks * kBlockBytes)) != 0) Die("truncate", absl::InternalError(out));
  t = Clock::now();
  auto groups = lsvd::GroupForRead(cp->map);
  auto written = lsvd::RestoreGroups(store, "bench-vol/", groups, 0, groups.size(), o.get(), {.parallel = parallel});
  if (!written.ok()) Die("restore", written.status());
  const double restore_s = Seconds(t);
  const double raw_read = (raw_read1 + raw_get(n_raw)) / 2;
  for (size_t i = 0; i < n_raw; ++i) (void)store.Delete("bench-raw/" + std::to_string(i));
  bool same = *ReadFile(dev) == *ReadFile(out);
  (void)lsvd::TruncateLog(store, "bench-vol/", 0);
  ::unlink(dev.c_str());
  ::unlink(out.c_str());
  ::rmdir(dir.c_str());

  std::printf("backend %s: %llu MiB volume, %.0f MiB allocated in %zu runs, %llu MiB objects, %d in parallel\n",
              store.Describe().c_str(), static_cast<unsigned long long>(volume_mib), allocated / 1048576.0, runs.size(),
              static_cast<unsigned long long>(object_mib), parallel);
  std::printf("  raw PUT %.1f MB/s   ship %.1f MB/s of allocated data   ship/raw %.2f\n", raw_write,
              Mbs(allocated, ship_s), Mbs(allocated, ship_s) / raw_write);
  std::printf("  raw GET %.1f MB/s   restore %.1f MB/s                 restore/raw %.2f\n", raw_read,
              Mbs(*written, restore_s), Mbs(*written, restore_s) / raw_read);
  std::printf("  bytes shipped / byte allocated: %.4f (%llu / %llu)   restored copy identical: %s\n",
              static_cast<double>(shipped) / static_cast<double>(allocated), static_cast<unsigned long long>(shipped),
              static_cast<unsigned long long>(allocated), same ? "yes" : "NO");
  return same ? 0 : 1;
}
