// LUKS2 layouts as the API carries them (v1.LuksLayout), both ways. Its own
// library so that luks itself does not depend on the API.
#pragma once

#include "luks/luks.h"
#include "volmigrate/v1/volmigrate.pb.h"

namespace volmigrate::luks {

v1::LuksLayout ToApi(const Layout& l);
// The sizes of the metadata and keyslot areas are not carried: 0, the defaults.
Layout FromApi(const v1::LuksLayout& l);

}  // namespace volmigrate::luks
