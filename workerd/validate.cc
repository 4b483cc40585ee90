#include "workerd/validate.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "workerd/config.h"

namespace volmigrate::workerd {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

bool IsPowerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

}  // namespace

absl::Status ValidateVolumeId(const std::string& id) {
  if (!ValidName(id))
    return Invalid(absl::StrCat("volume id '", id.substr(0, 64),
                                "' is invalid: 1-63 characters [a-z0-9-], not starting with '-'"));
  // Names workerd gives its own devices and keys (a migration's source view
  // and key, its clone metadata, a retired copy, a volume's clone and older
  // LUKS2 view on a destination): a volume of such a name would be confused
  // with them.
  for (const char* reserved : {"-src", "-meta", "-retired", "-crypt", "-clone"})
    if (absl::EndsWith(id, reserved))
      return Invalid(absl::StrCat("volume id '", id, "' ends in '", reserved, "', which volmigrate reserves"));
  return absl::OkStatus();
}

absl::Status ValidateCreateVolume(const v1::CreateVolumeRequest& r) {
  if (absl::Status s = ValidateVolumeId(r.id()); !s.ok()) return s;
  if (r.size_bytes() == 0 || r.size_bytes() % kMiB != 0)
    return Invalid(absl::StrCat("size_bytes ", r.size_bytes(), " must be a positive multiple of 1 MiB"));
  return absl::OkStatus();
}

absl::Status ValidateLuksLayout(const v1::LuksLayout& l) {
  if (l.cipher().empty() || l.cipher().size() > 64) return Invalid("luks.cipher must be set (e.g. aes-xts-plain64)");
  for (char c : l.cipher())
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '(' || c == ')'))
      return Invalid("luks.cipher has characters a cipher spec cannot have");
  if (l.key_size_bits() == 0 || l.key_size_bits() % 8 != 0 || l.key_size_bits() > 1024)
    return Invalid(absl::StrCat("luks.key_size_bits ", l.key_size_bits(), " is not a key size"));
  if (!IsPowerOfTwo(l.sector_size_bytes()) || l.sector_size_bytes() < 512 || l.sector_size_bytes() > 4096)
    return Invalid(absl::StrCat("luks.sector_size_bytes ", l.sector_size_bytes(), " must be 512, 1024, 2048 or 4096"));
  if (l.data_offset_bytes() == 0 || l.data_offset_bytes() % 4096 != 0)
    return Invalid(absl::StrCat("luks.data_offset_bytes ", l.data_offset_bytes(), " must be a positive multiple of 4096"));
  if (l.uuid().size() != 36) return Invalid("luks.uuid must be a 36-character UUID");
  return absl::OkStatus();
}

absl::Status ValidateOffer(const v1::OfferMigrationRequest& r) {
  if (!ValidName(r.migration_id())) return Invalid("migration_id is invalid: 1-63 characters [a-z0-9-]");
  if (absl::Status s = ValidateVolumeId(r.volume_id()); !s.ok()) return s;
  if (!ValidName(r.source_worker())) return Invalid("source_worker is not a valid worker name");
  if (r.size_bytes() == 0 || r.size_bytes() % 512 != 0)
    return Invalid(absl::StrCat("size_bytes ", r.size_bytes(), " must be a positive multiple of 512"));
  if (absl::Status s = ValidateLuksLayout(r.luks()); !s.ok()) return s;
  if (r.device_bytes() != r.size_bytes() + r.luks().data_offset_bytes())
    return Invalid(absl::StrCat("device_bytes ", r.device_bytes(), " is not size_bytes ", r.size_bytes(),
                                " plus the data offset ", r.luks().data_offset_bytes()));
  const v1::IscsiTarget& t = r.target();
  if (t.portal().empty() || t.portal().find(':') == std::string::npos) return Invalid("target.portal must be host:port");
  if (!absl::StartsWith(t.iqn(), "iqn.") || t.iqn().size() > 223) return Invalid("target.iqn must be an iqn. name");
  if (!absl::StartsWith(r.initiator_iqn(), "iqn.") || r.initiator_iqn().size() > 223)
    return Invalid("initiator_iqn must be an iqn. name");
  if (t.chap_user().empty() || t.chap_user().size() > 64) return Invalid("target.chap_user must be 1-64 characters");
  // open-iscsi and tgt agree on 12-16 characters for CHAP secrets.
  if (t.chap_secret().size() < 12 || t.chap_secret().size() > 16)
    return Invalid("target.chap_secret must be 12-16 characters");
  for (const std::string* name : {&t.iqn(), &r.initiator_iqn(), &t.chap_user()})
    for (char c : *name)
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-'))
        return Invalid("target iqn, initiator_iqn and chap_user may hold only [a-zA-Z0-9.:-]");
  if (r.volume_key().empty() || r.volume_key().size() > 512) return Invalid("volume_key must be 1-512 bytes");
  return absl::OkStatus();
}

}  // namespace volmigrate::workerd
