// libFuzzer target: the object parser must reject or accept any bytes without
// crashing, and what it accepts must be bounded (inside the volume, no length
// past an object's), re-encode to the same header and replay into a map
// without overlaps.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "lsvd/extents.h"
#include "lsvd/format.h"

using namespace volmigrate::lsvd;

namespace {

void Check(const std::string& bytes) {
  auto h = ParseHeader(bytes);
  if (!h.ok()) return;
  if (EncodeHeader(*h) != bytes.substr(0, h->header_bytes)) std::abort();
  // What it accepts is bounded: nothing a reader sizes from it is past the
  // volume or larger than an object.
  const uint64_t sectors = h->volume_bytes / kSector;
  if (h->data_bytes > kMaxDataBytes) std::abort();
  for (const Extent& e : h->extents)
    if (e.lba > sectors || e.sectors > sectors - e.lba) std::abort();
  for (const MapEntry& m : h->map)
    if (m.lba > sectors || m.sectors > sectors - m.lba || uint64_t{m.extent_sectors} * kSector > kMaxDataBytes)
      std::abort();
  (void)ParseObject(bytes);
  ExtentMap m(h->map);
  if (h->kind == Kind::kData) m.Apply(*h);
  uint64_t end = 0;
  bool first = true;
  for (const MapEntry& e : m.Entries()) {
    if (!first && e.lba < end) std::abort();  // overlapping entries
    end = e.lba + e.sectors;
    first = false;
  }
}

// Valid objects to start from: a data object and a checkpoint.
void WriteSeeds(const std::string& dir) {
  Header d{.kind = Kind::kData, .seq = 3, .point = 1, .volume_bytes = 1 << 20};
  d.extents = {{.lba = 0, .sectors = 1}, {.lba = 8, .sectors = 2, .zero = true}, {.lba = 16, .sectors = 1}};
  std::string data(2 * kSector, 'z');
  d.extents[0].crc = d.extents[2].crc = Crc32c(data.substr(0, kSector));
  std::ofstream(dir + "/data") << EncodeHeader(d) << data;
  Header c{.kind = Kind::kCheckpoint, .seq = 4, .point = 1, .volume_bytes = 1 << 20, .first_seq = 1};
  c.map = {{.lba = 0, .sectors = 1, .object = 3, .offset = 200, .extent_sectors = 1, .crc = 1},
           {.lba = 4, .sectors = 2, .skip = 1, .object = 2, .offset = 300, .extent_sectors = 4, .crc = 2}};
  std::ofstream(dir + "/checkpoint") << EncodeHeader(c);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("LSVD_FUZZ_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  // Random bytes rarely carry a valid checksum: also try them with the
  // header's CRC (and magic and version) made right, to reach the table parser.
  if (bytes.size() >= kFixedHeaderBytes) {
    std::copy(kMagic, kMagic + sizeof(kMagic), bytes.begin());
    bytes[8] = 1, bytes[9] = bytes[10] = bytes[11] = 0;
    auto need = NeedBytes(bytes);
    if (need.ok() && *need <= bytes.size()) {
      uint32_t crc = Crc32c(std::string_view(bytes).substr(0, *need - 4));
      for (int i = 0; i < 4; ++i) bytes[*need - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
      Check(bytes);
    }
  }
  return 0;
}
