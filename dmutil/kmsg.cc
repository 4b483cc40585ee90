#include "dmutil/kmsg.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status.h"

namespace volmigrate::dm {
namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-' || c == '_'; }

bool NamesWord(absl::string_view text, absl::string_view word) {
  for (size_t at = text.find(word); at != absl::string_view::npos; at = text.find(word, at + 1)) {
    bool before = at == 0 || !IsWordChar(text[at - 1]);
    size_t end = at + word.size();
    // "254:8:" ends a word at the colon dm puts after a device name.
    bool after = end == text.size() || !IsWordChar(text[end]) ||
                 (text[end] == ':' && (end + 1 == text.size() || !IsWordChar(text[end + 1])));
    if (before && after) return true;
  }
  return false;
}

}  // namespace

std::optional<KernelMessage> ParseKmsgRecord(absl::string_view record) {
  absl::string_view line = record.substr(0, record.find('\n'));
  size_t semi = line.find(';');
  if (semi == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> f = absl::StrSplit(line.substr(0, semi), ',');
  int prio;
  uint64_t seq;
  if (f.size() < 3 || !absl::SimpleAtoi(f[0], &prio) || !absl::SimpleAtoi(f[1], &seq) || prio < 0) return std::nullopt;
  return KernelMessage{.level = prio & 7, .seq = seq, .text = std::string(line.substr(semi + 1))};
}

std::optional<KernelMessage> FirstErrorAbout(const std::vector<KernelMessage>& log,
                                             const std::vector<std::string>& devices, uint64_t from_seq) {
  for (const KernelMessage& m : log) {
    if (m.seq < from_seq || m.level > 3) continue;
    for (const std::string& d : devices)
      if (!d.empty() && NamesWord(m.text, d)) return m;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<KernelMessage>> ReadKernelLog(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "opening " + path);
  std::vector<KernelMessage> out;
  char buf[8192];  // one record per read; the kernel caps a record below this
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EPIPE) continue;  // records overwritten while reading: go on with the next
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;    // the end of the buffer
    if (n < 0) return ErrnoError(errno, "reading " + path);
    if (n == 0) break;
    if (auto m = ParseKmsgRecord(absl::string_view(buf, static_cast<size_t>(n)))) out.push_back(std::move(*m));
  }
  return out;
}

}  // namespace volmigrate::dm
