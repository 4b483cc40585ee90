#include "lsvd/format.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace volmigrate::lsvd {

namespace {

constexpr uint32_t kExtentBytes = 24;
constexpr uint32_t kMapEntryBytes = 40;
// The largest header a table of kMaxEntries map entries makes.
constexpr uint64_t kMaxHeaderBytes = kFixedHeaderBytes + uint64_t{kMaxEntries} * kMapEntryBytes + 4;

// Little-endian fields, whatever the host.
void Put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t Get32(std::string_view s, size_t off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[off + i])) << (8 * i);
  return v;
}
uint64_t Get64(std::string_view s, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[off + i])) << (8 * i);
  return v;
}

const uint32_t* CrcTable() {
  static const auto* table = [] {
    auto* t = new uint32_t[256];
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;  // Castagnoli, reflected
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t EntrySize(Kind k) { return k == Kind::kData ? kExtentBytes : kMapEntryBytes; }

#if defined(__x86_64__)
// The SSE4.2 instruction computes the same polynomial 8 bytes at a time.
__attribute__((target("sse4.2"))) uint32_t Crc32cHw(std::string_view data, uint32_t crc) {
  uint64_t c = ~crc;
  const char* p = data.data();
  size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; ++p, --n) c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*p));
  return ~c32;
}
#endif

}  // namespace

uint32_t Crc32c(std::string_view data, uint32_t crc) {
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  if (hw) return Crc32cHw(data, crc);
#endif
  const uint32_t* t = CrcTable();
  crc = ~crc;
  for (char ch : data) crc = t[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

absl::StatusOr<Uuid> ParseUuid(std::string_view text) {
  Uuid u{};
  size_t n = 0;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23)) continue;
    if (i + 1 >= text.size() || n >= 16 || hex(text[i]) < 0 || hex(text[i + 1]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("not a UUID: '", std::string(text), "'"));
    }
    u[n++] = static_cast<uint8_t>(hex(text[i]) * 16 + hex(text[i + 1]));
    ++i;
  }
  if (n != 16 || text.size() != 36) return absl::InvalidArgumentError(absl::StrCat("not a UUID: '", std::string(text), "'"));
  return u;
}

std::string UuidString(const Uuid& u) {
  std::string s;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    absl::StrAppendFormat(&s, "%02x", u[i]);
  }
  return s;
}

std::string ObjectName(const std::string& prefix, uint64_t seq) { return absl::StrFormat("%s%016x", prefix, seq); }

absl::StatusOr<uint64_t> SeqOfName(const std::string& prefix, std::string_view name) {
  if (name.size() != prefix.size() + 16 || name.substr(0, prefix.size()) != prefix) {
    return absl::NotFoundError(absl::StrCat("'", std::string(name), "' is not an object of the log under '", prefix, "'"));
  }
  uint64_t v = 0;
  for (char c : name.substr(prefix.size())) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return absl::NotFoundError(absl::StrCat("'", std::string(name), "' has no hexadecimal sequence number"));
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return v;
}

std::string EncodeHeader(Header h) {
  const size_t count = h.kind == Kind::kData ? h.extents.size() : h.map.size();
  h.header_bytes = static_cast<uint32_t>(kFixedHeaderBytes + count * EntrySize(h.kind) + 4);
  if (h.kind == Kind::kData) {
    h.data_bytes = 0;
    for (const Extent& e : h.extents) h.data_bytes += e.zero ? 0 : e.sectors * kSector;
  } else {
    h.data_bytes = 0;
  }
  std::string s(kMagic, sizeof(kMagic));
  Put32(s, kVersion);
  Put32(s, static_cast<uint32_t>(h.kind));
  s.append(reinterpret_cast<const char*>(h.volume.data()), h.volume.size());
  Put64(s, h.seq);
  Put64(s, h.point);
  Put64(s, h.volume_bytes);
  Put64(s, static_cast<uint64_t>(h.created_unix));
  Put32(s, static_cast<uint32_t>(count));
  Put32(s, h.header_bytes);
  Put64(s, h.data_bytes);
  Put64(s, h.first_seq);
  if (h.kind == Kind::kData) {
    for (const Extent& e : h.extents) {
      Put64(s, e.lba);
      Put32(s, e.sectors);
      Put32(s, e.zero ? 1 : 0);
      Put32(s, e.zero ? 0 : e.crc);
      Put32(s, 0);
    }
  } else {
    for (const MapEntry& m : h.map) {
      Put64(s, m.lba);
      Put32(s, m.sectors);
      Put32(s, m.skip);
      Put64(s, m.object);
      Put64(s, m.offset);
      Put32(s, m.extent_sectors);
      Put32(s, m.crc);
    }
  }
  Put32(s, Crc32c(s));
  return s;
}

absl::StatusOr<uint32_t> NeedBytes(std::string_view p) {
  if (p.size() < kFixedHeaderBytes) {
    return absl::OutOfRangeError(absl::StrCat("object is ", p.size(), " bytes, shorter than a header"));
  }
  if (std::memcmp(p.data(), kMagic, sizeof(kMagic)) != 0) return absl::DataLossError("not an LSVD object (bad magic)");
  uint32_t version = Get32(p, 8);
  if (version != kVersion) {
    return absl::UnimplementedError(absl::StrCat("object format version ", version, " (this build reads ", kVersion, ")"));
  }
  uint32_t kind = Get32(p, 12);
  if (kind != static_cast<uint32_t>(Kind::kData) && kind != static_cast<uint32_t>(Kind::kCheckpoint)) {
    return absl::DataLossError(absl::StrCat("unknown object kind ", kind));
  }
  uint32_t count = Get32(p, 64);
  uint32_t header_bytes = Get32(p, 68);
  if (count > kMaxEntries) return absl::DataLossError(absl::StrCat("table of ", count, " entries is too large"));
  if (header_bytes != kFixedHeaderBytes + count * EntrySize(static_cast<Kind>(kind)) + 4) {
    return absl::DataLossError(absl::StrCat("header size ", header_bytes, " does not match its ", count, " entries"));
  }
  return header_bytes;
}

absl::StatusOr<Header> ParseHeader(std::string_view p) {
  absl::StatusOr<uint32_t> need = NeedBytes(p);
  if (!need.ok()) return need.status();
  if (p.size() < *need) {
    return absl::OutOfRangeError(absl::StrCat("object is ", p.size(), " bytes, its header needs ", *need));
  }
  const uint32_t hb = *need;
  if (Crc32c(p.substr(0, hb - 4)) != Get32(p, hb - 4)) return absl::DataLossError("header checksum mismatch");
  Header h;
  h.kind = static_cast<Kind>(Get32(p, 12));
  std::memcpy(h.volume.data(), p.data() + 16, 16);
  h.seq = Get64(p, 32);
  h.point = Get64(p, 40);
  h.volume_bytes = Get64(p, 48);
  h.created_unix = static_cast<int64_t>(Get64(p, 56));
  const uint32_t count = Get32(p, 64);
  h.header_bytes = hb;
  h.data_bytes = Get64(p, 72);
  h.first_seq = Get64(p, 80);
  // Every length below sizes a read, a buffer or a write: bounded here, once.
  if (h.volume_bytes % kSector != 0 || h.volume_bytes > kMaxVolumeBytes)
    return absl::DataLossError(absl::StrCat("volume size ", h.volume_bytes, " is not a size volmigrate ships"));
  if (h.data_bytes > kMaxDataBytes)
    return absl::DataLossError(absl::StrCat("header says ", h.data_bytes, " data bytes, more than any object holds"));
  const uint64_t volume_sectors = h.volume_bytes / kSector;
  auto inside = [&](uint64_t lba, uint64_t sectors) { return lba <= volume_sectors && sectors <= volume_sectors - lba; };
  size_t off = kFixedHeaderBytes;
  uint64_t data = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (h.kind == Kind::kData) {
      Extent e{.lba = Get64(p, off), .sectors = Get32(p, off + 8), .zero = Get32(p, off + 12) == 1,
               .crc = Get32(p, off + 16)};
      const uint32_t flags = Get32(p, off + 12), reserved = Get32(p, off + 20);
      // One encoding per extent: zero extents carry no CRC, reserved bits are 0.
      if (flags > 1 || reserved != 0 || (e.zero && e.crc != 0) || e.sectors == 0 || !inside(e.lba, e.sectors)) {
        return absl::DataLossError(absl::StrCat("extent ", i, " is malformed"));
      }
      if (!e.zero) data += uint64_t{e.sectors} * kSector;  // at most 2^20 * 2^41: no overflow
      h.extents.push_back(e);
      off += kExtentBytes;
    } else {
      MapEntry m{.lba = Get64(p, off), .sectors = Get32(p, off + 8), .skip = Get32(p, off + 12),
                 .object = Get64(p, off + 16), .offset = Get64(p, off + 24), .extent_sectors = Get32(p, off + 32),
                 .crc = Get32(p, off + 36)};
      if (m.sectors == 0 || uint64_t{m.skip} + m.sectors > m.extent_sectors || !inside(m.lba, m.sectors) ||
          uint64_t{m.extent_sectors} * kSector > kMaxDataBytes || m.offset > kMaxDataBytes + kMaxHeaderBytes ||
          m.object == 0 || m.object >= h.seq) {
        return absl::DataLossError(absl::StrCat("map entry ", i, " is malformed"));
      }
      h.map.push_back(m);
      off += kMapEntryBytes;
    }
  }
  if (h.seq == 0) return absl::DataLossError("sequence number 0");
  if (h.kind == Kind::kData ? data != h.data_bytes : h.data_bytes != 0) {
    return absl::DataLossError(absl::StrCat("header says ", h.data_bytes, " data bytes, its table ", data));
  }
  return h;
}

absl::StatusOr<Header> ParseObject(std::string_view bytes) {
  absl::StatusOr<Header> h = ParseHeader(bytes);
  if (!h.ok()) return h.status();
  if (bytes.size() != h->object_bytes()) {
    return absl::DataLossError(
        absl::StrCat("object is ", bytes.size(), " bytes, its header says ", h->object_bytes(), " (torn upload?)"));
  }
  uint64_t off = h->header_bytes;
  for (size_t i = 0; i < h->extents.size(); ++i) {
    const Extent& e = h->extents[i];
    if (e.zero) continue;
    const uint64_t n = uint64_t{e.sectors} * kSector;
    if (Crc32c(bytes.substr(off, n)) != e.crc) {
      return absl::DataLossError(absl::StrCat("extent ", i, " (sector ", e.lba, ") checksum mismatch"));
    }
    off += n;
  }
  return h;
}

}  // namespace volmigrate::lsvd
