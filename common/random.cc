#include "common/random.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "spdlog/spdlog.h"

namespace volmigrate {

std::string RandomHex(int bytes) {
  std::string raw(static_cast<size_t>(bytes), '\0');
  Fd fd(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || ::read(fd.get(), raw.data(), raw.size()) != static_cast<ssize_t>(raw.size())) {
    spdlog::critical("cannot read /dev/urandom");
    std::abort();
  }
  std::string out;
  for (unsigned char ch : raw) absl::StrAppend(&out, absl::Hex(ch, absl::kZeroPad2));
  return out;
}

std::string RandomSecret(int chars) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string hex = RandomHex(chars * 2);
  std::string out;
  for (int i = 0; i < chars; ++i) {
    unsigned v = static_cast<unsigned>(std::stoul(hex.substr(static_cast<size_t>(i) * 4, 4), nullptr, 16));
    out.push_back(kAlphabet[v % 62]);  // 65536 % 62 bias is negligible here
  }
  return out;
}

}  // namespace volmigrate
