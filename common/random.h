// Random names and secrets from the kernel's generator (/dev/urandom); a
// process that cannot read it aborts rather than make guessable ones.
#pragma once

#include <string>

namespace volmigrate {

std::string RandomHex(int bytes);    // 2 * bytes hex digits
std::string RandomSecret(int chars);  // [A-Za-z0-9]

}  // namespace volmigrate
