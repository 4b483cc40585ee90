#include "luks/api.h"

namespace volmigrate::luks {

v1::LuksLayout ToApi(const Layout& l) {
  v1::LuksLayout out;
  out.set_uuid(l.uuid);
  out.set_cipher(l.cipher);
  out.set_key_size_bits(l.key_size_bits);
  out.set_sector_size_bytes(l.sector_size);
  out.set_data_offset_bytes(l.data_offset);
  out.set_label(l.label);
  return out;
}

Layout FromApi(const v1::LuksLayout& l) {
  Layout out;
  out.uuid = l.uuid();
  out.cipher = l.cipher();
  out.key_size_bits = l.key_size_bits();
  out.sector_size = l.sector_size_bytes();
  out.data_offset = l.data_offset_bytes();
  out.label = l.label();
  return out;
}

}  // namespace volmigrate::luks
