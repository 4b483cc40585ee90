#include "host/fake_host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::host {
namespace {

constexpr char kMagic[] = "FAKELUKS2 ";
constexpr char kDefaultUuid[] = "0b9c3f44-0c3e-4b8e-9a3b-6c2b1f0d9e11";
constexpr uint64_t kDefaultDataOffset = 16u << 20;  // cryptsetup's

bool Has(const std::vector<std::string>& tags, const std::string& tag) {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

absl::Status PWrite(const std::string& path, uint64_t offset, const std::string& bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", path));
  if (::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(bytes.size()))
    return ErrnoError(errno, absl::StrCat("write ", path));
  return absl::OkStatus();
}

// The exports of every FakeHost in the process, iqn -> the exported LV's
// file: a destination's "iSCSI disk" is the source's file itself.
std::mutex exported_mu;
std::map<std::string, std::string>& Exported() {
  static auto* m = new std::map<std::string, std::string>;
  return *m;
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

// Every call: one at a time, and a queued failure first.
#define FAKE_CALL(method)                           \
  std::lock_guard<std::recursive_mutex> lock(mu_); \
  RETURN_IF_ERROR(Take(method))

void FakeHost::FailNext(const std::string& method, absl::Status s) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  fail_[method].push_back(std::move(s));
}

absl::Status FakeHost::Take(const char* method) {
  auto it = fail_.find(method);
  if (it == fail_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status s = std::move(it->second.front());
  it->second.pop_front();
  return s;
}

void FakeHost::Event(const std::string& e) {
  if (events.empty() || events.back() != e) events.push_back(e);
}

// Through the fake's dm devices to the file under them: a clone reads from
// its source, a linear map or a LUKS2 mapping from its device.
std::string FakeHost::FileUnder(const std::string& path) {
  std::string at = path;
  for (int depth = 0; depth < 8; ++depth) {
    if (IsFile(at)) return at;
    const std::string name(absl::StripPrefix(at, "/dev/mapper/"));
    if (name == at || !dm.live.count(name) || dm.live[name].empty()) return "";
    const dm::Target& t = dm.live[name][0];
    std::vector<std::string> f = absl::StrSplit(t.params, ' ');
    if (t.type == "clone" && f.size() > 2) at = f[2];
    else if (!f.empty()) at = f[0];
    else return "";
  }
  return "";
}

std::string FakeHost::LvOf(const std::string& path) const {
  if (!absl::StartsWith(path, dir_ + "/")) return "";
  return path.substr(dir_.size() + 1);
}

std::string FakeHost::Header(const luks::Layout& layout, const std::string& key) {
  return absl::StrCat(kMagic, layout.uuid.empty() ? kDefaultUuid : layout.uuid, " ",
                      layout.data_offset ? layout.data_offset : kDefaultDataOffset, " ", key, "\n");
}

void FakeHost::WriteBlocks(const std::string& lv, uint64_t block, const std::string& bytes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  absl::Status s = PWrite(LvPath(lv), block * kBlockBytes, bytes);
  if (!s.ok()) std::abort();  // a test's own mistake
  for (uint64_t b = block; b < block + (bytes.size() + kBlockBytes - 1) / kBlockBytes; ++b)
    blocks[lv][b] = next_data_block_++;
}

void FakeHost::MapBlocks(const std::string& lv, uint64_t block, uint64_t count) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (uint64_t b = block; b < block + count; ++b) blocks[lv][b] = next_data_block_++;
}

void FakeHost::UnmapBlock(const std::string& lv, uint64_t block) {
  WriteBlocks(lv, block, std::string(kBlockBytes, '\0'));
  std::lock_guard<std::recursive_mutex> lock(mu_);
  blocks[lv].erase(block);
}

std::string FakeHost::Bytes(const std::string& lv) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto b = ReadFile(LvPath(lv));
  return b.ok() ? *b : std::string();
}

// ---- thin LVs ----

absl::StatusOr<std::vector<volumes::LvRow>> FakeHost::ListLvs(const std::string& tag) {
  FAKE_CALL("ListLvs");
  std::vector<volumes::LvRow> out;
  for (const auto& [n, lv] : lvs)
    if (Has(lv.tags, tag)) out.push_back(lv);
  return out;
}

absl::StatusOr<volumes::LvRow> FakeHost::GetLv(const std::string& name) {
  FAKE_CALL("GetLv");
  if (!lvs.count(name)) return absl::NotFoundError("no logical volume " + name);
  return lvs[name];
}

absl::Status FakeHost::CreateLv(const std::string& name, uint64_t bytes, const std::string& tag) {
  FAKE_CALL("CreateLv");
  if (lvs.count(name)) return lvs[name].size_bytes == bytes ? absl::OkStatus() : absl::AlreadyExistsError(name);
  Fd fd(::open(LvPath(name).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
    return ErrnoError(errno, "creating " + LvPath(name));
  lvs[name] = {.name = name, .size_bytes = bytes, .pool = "pool", .data_percent = 10, .attr = "Vwi-a-tz--",
               .tags = {tag}, .thin_id = next_thin_id_++};
  return absl::OkStatus();
}

absl::Status FakeHost::DeleteLv(const std::string& name) {
  FAKE_CALL("DeleteLv");
  lvs.erase(name);
  blocks.erase(name);
  ::unlink(LvPath(name).c_str());
  return absl::OkStatus();
}

absl::Status FakeHost::RetireLv(const std::string& name, const std::string& new_name) {
  FAKE_CALL("RetireLv");
  if (lvs.count(name)) {
    lvs[new_name] = lvs[name];
    lvs[new_name].name = new_name;
    lvs.erase(name);
    blocks[new_name] = blocks[name];
    blocks.erase(name);
    ::rename(LvPath(name).c_str(), LvPath(new_name).c_str());
  }
  if (!lvs.count(new_name)) return absl::NotFoundError("no logical volume " + name);
  lvs[new_name].tags = {volumes::kRetiredTag};
  return absl::OkStatus();
}

absl::Status FakeHost::Snapshot(const std::string& origin, const std::string& name) {
  FAKE_CALL("Snapshot");
  if (lvs.count(name)) return absl::OkStatus();
  if (!lvs.count(origin)) return absl::NotFoundError("no logical volume " + origin);
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(LvPath(origin)));
  RETURN_IF_ERROR(WriteFileAtomic(LvPath(name), bytes, 0600));
  snapshots_made.insert(name);
  lvs[name] = lvs[origin];
  lvs[name].name = name;
  lvs[name].tags = {volumes::kSealedTag};
  lvs[name].thin_id = next_thin_id_++;
  blocks[name] = blocks[origin];
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> FakeHost::SealedSnapshots(const std::string& volume) {
  FAKE_CALL("SealedSnapshots");
  std::vector<std::string> out;
  for (const auto& [n, lv] : lvs)
    if (Has(lv.tags, volumes::kSealedTag) && absl::StartsWith(n, volume + "_p")) out.push_back(n);
  return out;
}

absl::StatusOr<dm::PoolSpace> FakeHost::PoolSpace() {
  FAKE_CALL("PoolSpace");
  ++pool_reads;
  const uint64_t free = pool_free;
  return dm::PoolSpace{.free_bytes = free, .total_bytes = pool_size, .out_of_data_space = free == 0};
}

absl::StatusOr<volumes::ThinMap> FakeHost::Mappings(uint64_t thin_id) {
  FAKE_CALL("Mappings");
  volumes::ThinMap out{.block_sectors = kBlockSectors};
  for (const auto& [n, lv] : lvs) {
    if (lv.thin_id != thin_id) continue;
    if (Has(lv.tags, volumes::kVolumeTag)) Event("map " + n);
    for (auto [b, d] : blocks[n]) {
      volumes::ThinRun* last = out.runs.empty() ? nullptr : &out.runs.back();
      if (last && last->origin + last->length == b && last->data + last->length == d)
        ++last->length;
      else
        out.runs.push_back({.origin = b, .data = d, .length = 1});
    }
  }
  return out;
}

// ---- block devices ----

absl::StatusOr<uint64_t> FakeHost::DeviceBytes(const std::string& path) {
  FAKE_CALL("DeviceBytes");
  if (!LvOf(path).empty() || IsFile(path)) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, "stat " + path);
    return static_cast<uint64_t>(st.st_size);
  }
  // A LUKS2 mapping over a file shows its plaintext.
  const std::string name(absl::StripPrefix(path, "/dev/mapper/"));
  if (dm.live.count(name) && dm.live[name][0].type == "crypt" && !FileUnder(path).empty())
    return dm.live[name][0].length * 512;
  return kOtherDeviceBytes;
}

absl::Status FakeHost::ZeroDevice(const std::string&, uint64_t) {
  FAKE_CALL("ZeroDevice");
  return absl::OkStatus();
}

// The fake clone's regions are the first dm.total of 64 KiB.
absl::Status FakeHost::Discard(const std::string& device, const std::vector<Extent>& extents) {
  FAKE_CALL("Discard");
  Event("discard " + device);
  for (const Extent& x : extents)
    for (uint64_t r = x.start / 128; r < (x.start + x.length) / 128 && r < dm.total; ++r)
      if (marked.insert(r).second) dm.hydrated = std::min(dm.total, dm.hydrated + 1);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FakeHost::BusyMillis(const std::string&) {
  FAKE_CALL("BusyMillis");
  if (busy_unreadable) return absl::UnavailableError("no stat file");
  if (consumer_busy) busy_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  return busy_ms.load();
}

// ---- keys ----

absl::StatusOr<std::string> FakeHost::GetKey(const std::string& name) {
  FAKE_CALL("GetKey");
  if (!keys.count(name)) return absl::NotFoundError("no key for " + name);
  return keys[name];
}

absl::StatusOr<std::string> FakeHost::CreateKey(const std::string& name) {
  FAKE_CALL("CreateKey");
  if (!keys.count(name)) keys[name] = "key-of-" + name;
  return keys[name];
}

absl::Status FakeHost::PutKey(const std::string& name, const std::string& key) {
  FAKE_CALL("PutKey");
  keys[name] = key;
  return absl::OkStatus();
}

absl::Status FakeHost::DeleteKey(const std::string& name) {
  FAKE_CALL("DeleteKey");
  keys.erase(name);
  return absl::OkStatus();
}

// ---- LUKS2 ----

// The header and the key that opens it.
absl::StatusOr<luks::Header> FakeHost::HeaderOf(const std::string& device) {
  const std::string path = FileUnder(device);
  if (path.empty()) return absl::NotFoundError("no device " + device);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "open " + path);
  std::string bytes(4096, '\0');
  ssize_t n = ::pread(fd.get(), bytes.data(), bytes.size(), 0);
  if (n < 0) return ErrnoError(errno, "read " + path);
  bytes.resize(static_cast<size_t>(n));
  const std::string line = bytes.substr(0, bytes.find('\n'));
  std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
  luks::Header h;
  if (!absl::StartsWith(bytes, kMagic) || f.size() != 4 || !absl::SimpleAtoi(f[2], &h.layout.data_offset))
    return absl::FailedPreconditionError(path + " holds no LUKS header");
  h.layout.uuid = f[1];
  h.layout.label = f[3];  // the key, for OpenCrypt; ReadHeader clears it
  h.device_bytes = static_cast<uint64_t>(st.st_size);
  h.plaintext_bytes = h.device_bytes > h.layout.data_offset ? h.device_bytes - h.layout.data_offset : 0;
  return h;
}

absl::StatusOr<luks::Header> FakeHost::ReadHeader(const std::string& path) {
  FAKE_CALL("ReadHeader");
  ASSIGN_OR_RETURN(luks::Header h, HeaderOf(path));
  h.layout.label.clear();
  return h;
}

absl::Status FakeHost::Format(const std::string& path, const luks::Layout& layout, const std::string& key) {
  FAKE_CALL("Format");
  const std::string lv = LvOf(path);
  if (lv.empty() || !lvs.count(lv)) return absl::NotFoundError("no device " + path);
  if (auto have = HeaderOf(path); have.ok()) {
    const uint64_t want = layout.data_offset ? layout.data_offset : kDefaultDataOffset;
    return have->layout.data_offset == want ? absl::OkStatus() : absl::AlreadyExistsError(path);
  }
  WriteBlocks(lv, 0, Header(layout, key));
  return absl::OkStatus();
}

absl::Status FakeHost::OpenCrypt(const std::string& path, const std::string& name, const std::string& key,
                                 const luks::OpenOptions&) {
  FAKE_CALL("OpenCrypt");
  uint64_t bytes = kOtherDeviceBytes;
  if (!FileUnder(path).empty()) {
    ASSIGN_OR_RETURN(luks::Header h, HeaderOf(path));
    if (h.layout.label != key) return absl::PermissionDeniedError("no keyslot of " + path + " opens with this key");
    bytes = h.plaintext_bytes;
  }
  return dm.Create(name, {{0, bytes / 512, "crypt", path}}, false);
}

absl::Status FakeHost::CloseCrypt(const std::string& name) {
  FAKE_CALL("CloseCrypt");
  return dm.Remove(name);
}

// ---- a volume's live device ----

absl::StatusOr<bool> FakeHost::VolumeOpen(const std::string& volume) {
  FAKE_CALL("VolumeOpen");
  return dm.live.count(volume) > 0;
}

absl::Status FakeHost::OpenVolume(const std::string& volume) {
  FAKE_CALL("OpenVolume");
  ASSIGN_OR_RETURN(std::string key, GetKey(volume));
  return OpenCrypt(LvPath(volume), volume, key, {});
}

absl::Status FakeHost::CloseVolume(const std::string& volume) {
  FAKE_CALL("CloseVolume");
  dm.live.erase(volume);
  dm.live.erase(CryptName(volume));
  dm.live.erase(CloneName(volume));
  return absl::OkStatus();
}

// ---- device-mapper ----

absl::StatusOr<bool> FakeHost::MappingExists(const std::string& name) {
  FAKE_CALL("MappingExists");
  return dm.Exists(name);
}

absl::Status FakeHost::CreateMapping(const std::string& name, const std::vector<dm::Target>& table) {
  FAKE_CALL("CreateMapping");
  return dm.Create(name, table, false);
}

absl::StatusOr<std::vector<dm::Target>> FakeHost::MappingTable(const std::string& name) {
  FAKE_CALL("MappingTable");
  return dm.Table(name);
}

absl::StatusOr<std::vector<dm::Target>> FakeHost::MappingStatus(const std::string& name, bool noflush) {
  FAKE_CALL("MappingStatus");
  return dm.Status(name, noflush);
}

absl::StatusOr<std::string> FakeHost::MessageMapping(const std::string& name, const std::string& message) {
  FAKE_CALL("MessageMapping");
  return dm.Message(name, message);
}

absl::Status FakeHost::RemoveMapping(const std::string& name) {
  FAKE_CALL("RemoveMapping");
  return dm.Remove(name);
}

absl::Status FakeHost::SwapToLinear(const std::string& name, const std::string& device, uint64_t sectors) {
  FAKE_CALL("SwapToLinear");
  // What kcopyd copied, now that the clone goes: every region of the source's
  // file not marked hydrated by a discard, into the destination LV (one 64 KiB
  // block each, mapped as the pool would).
  if (dm.live.count(name) && dm.live[name][0].type == "clone") {
    std::vector<std::string> f = absl::StrSplit(dm.live[name][0].params, ' ');
    const std::string lv = f.size() > 2 ? LvOf(f[1]) : "";
    if (!lv.empty() && IsFile(f[2])) {
      Fd src(::open(f[2].c_str(), O_RDONLY | O_CLOEXEC));
      if (!src.valid()) return ErrnoError(errno, "open " + f[2]);
      std::string region(kBlockBytes, '\0');
      for (uint64_t r = 0; r < dm.total; ++r) {
        if (marked.count(r)) continue;
        ssize_t n = ::pread(src.get(), region.data(), region.size(), static_cast<off_t>(r * kBlockBytes));
        if (n <= 0) break;
        WriteBlocks(lv, r, region.substr(0, static_cast<size_t>(n)));
      }
    }
  }
  return dm::SwapToLinear(dm, name, device, sectors);
}

// ---- iSCSI ----

absl::Status FakeHost::Export(const iscsi::ExportSpec& spec) {
  FAKE_CALL("Export");
  exports_created += exports.insert(spec.iqn).second;
  std::lock_guard<std::mutex> l(exported_mu);
  Exported()[spec.iqn] = spec.device;
  return absl::OkStatus();
}

absl::Status FakeHost::Unexport(const std::string& iqn, const std::string&) {
  FAKE_CALL("Unexport");
  exports.erase(iqn);
  std::lock_guard<std::mutex> l(exported_mu);
  Exported().erase(iqn);
  return absl::OkStatus();
}

absl::Status FakeHost::PrepareLogin(const iscsi::LoginSpec&) {
  FAKE_CALL("PrepareLogin");
  return absl::OkStatus();
}

absl::Status FakeHost::Login(const iscsi::LoginSpec& spec) {
  FAKE_CALL("Login");
  if (!sessions.count(spec.iqn) && refuse_logins > 0 && refuse_logins--)
    return absl::PermissionDeniedError("iSCSI login to " + spec.iqn + " refused: target not found");
  logins += sessions.insert(spec.iqn).second;
  return absl::OkStatus();
}

absl::Status FakeHost::Logout(const std::string& iqn, const std::string&) {
  FAKE_CALL("Logout");
  sessions.erase(iqn);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeHost::WaitDevice(const std::string& iqn, absl::Duration) {
  FAKE_CALL("WaitDevice");
  if (!sessions.count(iqn)) return absl::DeadlineExceededError("no session to " + iqn);
  std::lock_guard<std::mutex> l(exported_mu);
  auto it = Exported().find(iqn);
  return it != Exported().end() ? it->second : std::string("/dev/sda");
}

absl::StatusOr<std::string> FakeHost::SessionState(const std::string& iqn) {
  FAKE_CALL("SessionState");
  return sessions.count(iqn) ? std::string("LOGGED_IN") : std::string();
}

absl::StatusOr<iscsi::Disk> FakeHost::SourceDisk(const std::string& iqn) {
  FAKE_CALL("SourceDisk");
  if (!sessions.count(iqn)) return absl::NotFoundError("no disk for " + iqn);
  return iscsi::Disk{.name = "sda", .state = disk_state};
}

absl::StatusOr<bool> FakeHost::ReviveDisk(const std::string&) {
  FAKE_CALL("ReviveDisk");
  if (disk_state != "offline") return false;
  disk_state = "running";
  ++revived;
  return true;
}

// ---- the kernel's log, the consumer ----

absl::StatusOr<uint64_t> FakeHost::KernelLogNext() {
  FAKE_CALL("KernelLogNext");
  return 7;
}

absl::StatusOr<std::string> FakeHost::HydrationError(const std::string&, const std::string&, uint64_t) {
  FAKE_CALL("HydrationError");
  return std::string();
}

absl::Status FakeHost::RunHook(const std::string& path, const std::string& volume, const std::string&) {
  FAKE_CALL("RunHook");
  if (path.empty()) return absl::OkStatus();
  if (path == fail_hook) return absl::FailedPreconditionError(path + " exited with status 1");
  Event(path + " " + volume);
  if (hooks.empty() || hooks.back() != path + " " + volume) hooks.push_back(path + " " + volume);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FakeHost::Trim(const std::string&) {
  FAKE_CALL("Trim");
  if (dm.hydrated < dm.total / 2) dm.hydrated = dm.total / 2;  // half the regions unused
  return uint64_t{1} << 20;
}

}  // namespace volmigrate::host
