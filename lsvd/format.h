// The object format of a volume's log in object storage (docs/lsvd-format.md).
// Pure functions over bytes: no I/O, so the parser can be fuzzed.
//
// A log is a sequence of objects numbered 1, 2, 3, ... Data objects carry
// extents of the volume's ciphertext device; a checkpoint object closes a
// "point" (one ship of a sealed snapshot) with the full map of where every
// live extent's data is. The latest write to a sector wins.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace volmigrate::lsvd {

inline constexpr uint64_t kSector = 512;
inline constexpr char kMagic[8] = {'V', 'M', 'L', 'S', 'V', 'D', '0', '1'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kFixedHeaderBytes = 88;
// A reader fetches this much first; it holds the fixed header of any object.
inline constexpr uint32_t kHeaderProbeBytes = 64 * 1024;
// Parsers refuse tables larger than this (a checkpoint of ~2^20 extents).
inline constexpr uint32_t kMaxEntries = 1u << 20;
// And any length a reader would allocate or write from, beyond these: no
// object carries more data than this (object_mib is at most 1024), and no
// volume is larger than this.
inline constexpr uint64_t kMaxDataBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxVolumeBytes = uint64_t{1} << 50;

using Uuid = std::array<uint8_t, 16>;
absl::StatusOr<Uuid> ParseUuid(std::string_view text);  // 8-4-4-4-12 hex
std::string UuidString(const Uuid& u);

enum class Kind : uint32_t { kData = 1, kCheckpoint = 2 };

// One extent in a data object. A zero extent has no data: the range was
// discarded (the thin pool unmapped it) since the last point and reads as zeros.
struct Extent {
  uint64_t lba = 0;       // in 512-byte sectors
  uint32_t sectors = 0;
  bool zero = false;
  uint32_t crc = 0;       // CRC32C of the extent's data; 0 for zero extents
  bool operator==(const Extent&) const = default;
};

// One live range in a checkpoint: sectors [lba, lba+sectors) are the sectors
// [skip, skip+sectors) of the extent stored at `offset` bytes into data object
// `object`, whose full length and CRC are given so a reader can verify it.
struct MapEntry {
  uint64_t lba = 0;
  uint32_t sectors = 0;
  uint32_t skip = 0;
  uint64_t object = 0;
  uint64_t offset = 0;
  uint32_t extent_sectors = 0;
  uint32_t crc = 0;
  bool operator==(const MapEntry&) const = default;
};

struct Header {
  Kind kind = Kind::kData;
  Uuid volume{};
  uint64_t seq = 0;
  uint64_t point = 0;          // which ship this object belongs to (1, 2, ...)
  uint64_t volume_bytes = 0;   // size of the ciphertext device
  int64_t created_unix = 0;
  uint64_t first_seq = 0;      // checkpoint: first object of its point; data: 0
  uint32_t header_bytes = 0;   // fixed header + table + trailing CRC
  uint64_t data_bytes = 0;     // payload after the header (data objects)
  std::vector<Extent> extents;   // data objects
  std::vector<MapEntry> map;     // checkpoints
  uint64_t object_bytes() const { return header_bytes + data_bytes; }
};

// Object name of `seq` under `prefix` ("vol1/"): 16 lower-case hex digits.
std::string ObjectName(const std::string& prefix, uint64_t seq);
// The sequence number of a name under `prefix`; NotFound for other names.
absl::StatusOr<uint64_t> SeqOfName(const std::string& prefix, std::string_view name);

// Serializes a header; header_bytes and data_bytes are computed from the table.
std::string EncodeHeader(Header h);

// Parses and checks a header from the start of an object. `bytes` may be just
// a prefix: OutOfRange (with header_bytes known, see NeedBytes) when it is too
// short; DataLoss for a bad magic, checksum or table (including a length past
// kMaxDataBytes or a range past the volume's end); Unimplemented for a newer
// version.
absl::StatusOr<Header> ParseHeader(std::string_view bytes);
// How many bytes ParseHeader needs, from a prefix of at least kFixedHeaderBytes.
absl::StatusOr<uint32_t> NeedBytes(std::string_view prefix);

// Checks a whole data object: header, size and every extent's CRC.
absl::StatusOr<Header> ParseObject(std::string_view bytes);

uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace volmigrate::lsvd
