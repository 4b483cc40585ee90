#include "lsvd/log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"

namespace volmigrate::lsvd {

namespace {

// Runs fn(0..n-1) on up to `parallel` threads; the first error wins and stops
// new work.
absl::Status RunParallel(size_t n, int parallel, const std::function<absl::Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status first;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      absl::Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first.ok()) first = s;
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t k = std::min<size_t>(n, static_cast<size_t>(std::max(parallel, 1)));
  for (size_t t = 1; t < k; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return first;
}

// Errors worth another try: the network, the service, a throttle.
bool Transient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s) ||
         absl::IsAborted(s) || absl::IsInternal(s);
}

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) { return s.status(); }

template <typename F>
auto WithRetries(const TransferOptions& o, F f) -> decltype(f()) {
  absl::Duration wait = o.backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = f();
    if (r.ok() || attempt >= o.attempts || !Transient(StatusOf(r))) return r;
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Seconds(10));
  }
}

absl::Status ReadAt(int fd, char* buf, uint64_t n, uint64_t off) {
  uint64_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError(errno, absl::StrCat("read at byte ", off + got));
    if (r == 0) return absl::OutOfRangeError(absl::StrCat("device ends before byte ", off + n));
    got += static_cast<uint64_t>(r);
  }
  return absl::OkStatus();
}

absl::Status WriteAt(int fd, const char* buf, uint64_t n, uint64_t off) {
  uint64_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError(errno, absl::StrCat("write at byte ", off + done));
    done += static_cast<uint64_t>(r);
  }
  return absl::OkStatus();
}

// The header of object `name`: one ranged GET, a second for a big table.
absl::StatusOr<Header> FetchHeader(objstore::ObjectStore& store, const std::string& name) {
  ASSIGN_OR_RETURN(std::string bytes, store.GetRange(name, 0, kHeaderProbeBytes));
  absl::StatusOr<Header> h = ParseHeader(bytes);
  if (absl::IsOutOfRange(h.status()) && bytes.size() >= kFixedHeaderBytes) {
    ASSIGN_OR_RETURN(uint32_t need, NeedBytes(bytes));
    ASSIGN_OR_RETURN(bytes, store.GetRange(name, 0, need));
    h = ParseHeader(bytes);
  }
  return h;
}

}  // namespace

std::string LogPrefix(const std::string& volume) { return volume + "/"; }

const Header* LogScan::LastCheckpoint() const {
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) {
    if (it->kind == Kind::kCheckpoint) return &*it;
  }
  return nullptr;
}

absl::StatusOr<LogScan> ScanLog(objstore::ObjectStore& store, const std::string& prefix) {
  ASSIGN_OR_RETURN(std::vector<objstore::ObjectInfo> listed, store.List(prefix));
  std::map<uint64_t, uint64_t> sizes;  // seq -> listed size
  LogScan scan;
  for (const auto& o : listed) {
    absl::StatusOr<uint64_t> seq = SeqOfName(prefix, o.name);
    if (seq.ok()) sizes[*seq] = o.size;  // other names under the prefix are not the log's
  }
  std::map<uint64_t, uint64_t> point_bytes;
  uint64_t expect = 1;
  for (const auto& [seq, size] : sizes) {
    const std::string name = ObjectName(prefix, seq);
    if (seq != expect) {
      scan.stopped = absl::StrCat("object ", expect, " is missing (next present: ", seq, ")");
      break;
    }
    absl::StatusOr<Header> h = FetchHeader(store, name);
    if (!h.ok()) {
      scan.stopped = absl::StrCat("object ", seq, " (", name, ") is unreadable: ", h.status().message());
      break;
    }
    if (h->seq != seq) {
      scan.stopped = absl::StrCat("object ", name, " says it is number ", h->seq);
      break;
    }
    if (h->object_bytes() != size) {
      scan.stopped = absl::StrCat("object ", seq, " is torn: ", size, " bytes stored, its header says ", h->object_bytes());
      break;
    }
    if (!scan.objects.empty() && h->volume != scan.objects.front().volume) {
      scan.stopped = absl::StrCat("object ", seq, " belongs to volume ", UuidString(h->volume), ", the log to ",
                                  UuidString(scan.objects.front().volume));
      break;
    }
    if (h->kind == Kind::kData) {
      point_bytes[h->point] += h->data_bytes;
    } else {
      uint64_t live = 0;
      for (const MapEntry& m : h->map) live += uint64_t{m.sectors} * kSector;
      scan.points.push_back(Point{.point = h->point, .checkpoint_seq = seq, .first_seq = h->first_seq,
                                  .created_unix = h->created_unix, .volume_bytes = h->volume_bytes,
                                  .shipped_bytes = point_bytes[h->point], .live_bytes = live});
    }
    scan.objects.push_back(*std::move(h));
    ++expect;
  }
  return scan;
}

uint64_t PointPlan::ObjectBytes(size_t i) const {
  uint64_t data = 0;
  for (const Extent& e : objects[i]) data += e.zero ? 0 : uint64_t{e.sectors} * kSector;
  return kFixedHeaderBytes + objects[i].size() * 24 + 4 + data;
}

uint64_t PointPlan::DataBytes() const {
  uint64_t n = 0;
  for (const auto& o : objects) {
    for (const Extent& e : o) n += e.zero ? 0 : uint64_t{e.sectors} * kSector;
  }
  return n;
}

absl::StatusOr<std::vector<bool>> UploadedObjects(objstore::ObjectStore& store, const PointPlan& plan) {
  ASSIGN_OR_RETURN(std::vector<objstore::ObjectInfo> listed, store.List(plan.prefix));
  std::map<std::string, uint64_t> sizes;
  for (const auto& o : listed) sizes[o.name] = o.size;
  std::vector<bool> done(plan.objects.size());
  for (size_t i = 0; i < plan.objects.size(); ++i) {
    auto it = sizes.find(ObjectName(plan.prefix, plan.first_seq + i));
    done[i] = it != sizes.end() && it->second == plan.ObjectBytes(i);
  }
  return done;
}

absl::StatusOr<uint64_t> UploadObjects(objstore::ObjectStore& store, const PointPlan& plan, int fd,
                                       const std::vector<size_t>& which, const TransferOptions& opts) {
  std::atomic<uint64_t> total{0};
  absl::Status s = RunParallel(which.size(), opts.parallel, [&](size_t k) -> absl::Status {
    const size_t i = which[k];
    Header h{.kind = Kind::kData, .volume = plan.volume, .seq = plan.first_seq + i, .point = plan.point,
             .volume_bytes = plan.volume_bytes, .created_unix = plan.created_unix, .extents = plan.objects[i]};
    std::string data;
    for (Extent& e : h.extents) {
      if (e.zero) continue;
      const uint64_t n = uint64_t{e.sectors} * kSector;
      const size_t at = data.size();
      data.resize(at + n);
      RETURN_IF_ERROR(Annotate(ReadAt(fd, data.data() + at, n, e.lba * kSector), "reading the sealed snapshot"));
      e.crc = Crc32c(std::string_view(data).substr(at, n));
    }
    std::string object = EncodeHeader(h) + data;
    const std::string name = ObjectName(plan.prefix, h.seq);
    RETURN_IF_ERROR(WithRetries(opts, [&] { return store.Put(name, object); }));
    total += object.size();
    if (opts.on_bytes) opts.on_bytes(object.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return total.load();
}

absl::StatusOr<Header> WriteCheckpoint(objstore::ObjectStore& store, const PointPlan& plan,
                                       const std::vector<MapEntry>& previous_map) {
  ExtentMap map(previous_map);
  for (size_t i = 0; i < plan.objects.size(); ++i) {
    const std::string name = ObjectName(plan.prefix, plan.first_seq + i);
    absl::StatusOr<Header> h = FetchHeader(store, name);
    if (!h.ok()) return Annotate(h.status(), absl::StrCat("checking ", name));
    if (h->seq != plan.first_seq + i || h->point != plan.point || h->volume != plan.volume ||
        h->extents.size() != plan.objects[i].size()) {
      return absl::DataLossError(absl::StrCat(name, " is not the object this point planned"));
    }
    map.Apply(*h);
  }
  Header cp{.kind = Kind::kCheckpoint, .volume = plan.volume, .seq = plan.checkpoint_seq(), .point = plan.point,
            .volume_bytes = plan.volume_bytes, .created_unix = plan.created_unix, .first_seq = plan.first_seq,
            .map = map.Entries()};
  std::string bytes = EncodeHeader(cp);
  RETURN_IF_ERROR(store.Put(ObjectName(plan.prefix, cp.seq), bytes));
  return ParseHeader(bytes);
}

std::vector<ReadGroup> GroupForRead(const std::vector<MapEntry>& map) {
  std::map<std::pair<uint64_t, uint64_t>, ReadGroup> groups;
  for (const MapEntry& m : map) {
    ReadGroup& g = groups[{m.object, m.offset}];
    g.object = m.object;
    g.offset = m.offset;
    g.extent_sectors = m.extent_sectors;
    g.crc = m.crc;
    g.ranges.push_back(m);
  }
  std::vector<ReadGroup> out;
  out.reserve(groups.size());
  for (auto& [k, g] : groups) out.push_back(std::move(g));
  return out;
}

absl::StatusOr<uint64_t> RestoreGroups(objstore::ObjectStore& store, const std::string& prefix,
                                       const std::vector<ReadGroup>& groups, size_t begin, size_t end, int fd,
                                       const TransferOptions& opts) {
  std::atomic<uint64_t> total{0};
  absl::Status s = RunParallel(end - begin, opts.parallel, [&](size_t k) -> absl::Status {
    const ReadGroup& g = groups[begin + k];
    const std::string name = ObjectName(prefix, g.object);
    const uint64_t n = uint64_t{g.extent_sectors} * kSector;
    ASSIGN_OR_RETURN(std::string data, WithRetries(opts, [&] { return store.GetRange(name, g.offset, n); }));
    if (data.size() != n || Crc32c(data) != g.crc) {
      return absl::DataLossError(absl::StrCat("object ", name, " at byte ", g.offset, ": extent checksum mismatch"));
    }
    uint64_t written = 0;
    for (const MapEntry& m : g.ranges) {
      // Entries naming one extent must agree on its length: a range is cut
      // from the bytes read for the group, never from past them.
      if (uint64_t{m.skip} + m.sectors > g.extent_sectors)
        return absl::DataLossError(absl::StrCat("object ", name, " at byte ", g.offset,
                                                ": the checkpoint gives the extent two lengths"));
      const uint64_t len = uint64_t{m.sectors} * kSector;
      RETURN_IF_ERROR(WriteAt(fd, data.data() + uint64_t{m.skip} * kSector, len, m.lba * kSector));
      written += len;
    }
    total += written;
    if (opts.on_bytes) opts.on_bytes(written);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (::fdatasync(fd) != 0) return ErrnoError(errno, "flushing the restored device");
  return total.load();
}

absl::Status TruncateLog(objstore::ObjectStore& store, const std::string& prefix, uint64_t seq) {
  ASSIGN_OR_RETURN(std::vector<objstore::ObjectInfo> listed, store.List(prefix));
  for (auto it = listed.rbegin(); it != listed.rend(); ++it) {
    absl::StatusOr<uint64_t> s = SeqOfName(prefix, it->name);
    if (s.ok() && *s > seq) RETURN_IF_ERROR(store.Delete(it->name));
  }
  return absl::OkStatus();
}

}  // namespace volmigrate::lsvd
