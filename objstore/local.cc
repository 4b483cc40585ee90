#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "objstore/store.h"

namespace volmigrate::objstore {

namespace {

class LocalStore final : public ObjectStore {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  absl::Status Put(const std::string& name, const std::string& data) override {
    RETURN_IF_ERROR(CheckName(name));
    const std::string path = PathOf(name);
    RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/')), 0700));
    return WriteFileAtomic(path, data, 0600);
  }

  absl::StatusOr<std::string> Get(const std::string& name) override {
    RETURN_IF_ERROR(CheckName(name));
    return ReadFile(PathOf(name));
  }

  absl::StatusOr<std::string> GetRange(const std::string& name, uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(CheckName(name));
    const std::string path = PathOf(name);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", path));
    std::string out(length, '\0');
    uint64_t got = 0;
    while (got < length) {
      ssize_t n = ::pread(fd.get(), out.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, absl::StrCat("read ", path));
      if (n == 0) break;
      got += static_cast<uint64_t>(n);
    }
    out.resize(got);
    return out;
  }

  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    // Walk only the directory the prefix lies in, and below it.
    const std::string dir_part = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    std::function<absl::Status(const std::string&)> walk = [&](const std::string& rel) -> absl::Status {
      const std::string dir = root_ + "/" + rel;
      DIR* d = ::opendir(dir.c_str());
      if (d == nullptr) {
        if (errno == ENOENT) return absl::OkStatus();
        return ErrnoError(errno, absl::StrCat("list ", dir));
      }
      std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == ".." || n.rfind(".tmp", 0) == 0 || n.find(".tmp.") != std::string::npos) continue;
        std::string name = rel + n;
        struct stat st {};
        if (::stat((root_ + "/" + name).c_str(), &st) != 0) continue;  // deleted meanwhile
        if (S_ISDIR(st.st_mode)) {
          // An ancestor of the prefix, or inside it.
          if (prefix.rfind(name + "/", 0) == 0 || (name + "/").rfind(prefix, 0) == 0) {
            RETURN_IF_ERROR(walk(name + "/"));
          }
        } else if (name.rfind(prefix, 0) == 0) {
          out.push_back({name, static_cast<uint64_t>(st.st_size)});
        }
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(walk(dir_part));
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return out;
  }

  absl::Status Delete(const std::string& name) override {
    RETURN_IF_ERROR(CheckName(name));
    const std::string path = PathOf(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, absl::StrCat("delete ", path));
    return absl::OkStatus();
  }

  std::string Describe() const override { return "dir:" + root_; }

 private:
  // Names come from our own code, but a name must never leave the root.
  static absl::Status CheckName(const std::string& name) {
    if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos ||
        name.find("//") != std::string::npos || name.back() == '/') {
      return absl::InvalidArgumentError(absl::StrCat("bad object name '", name, "'"));
    }
    return absl::OkStatus();
  }
  std::string PathOf(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectStore>> NewLocalStore(const std::string& root) {
  if (root.empty() || root.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat("object store directory must be absolute: '", root, "'"));
  }
  RETURN_IF_ERROR(MakeDirs(root, 0700));
  return std::unique_ptr<ObjectStore>(new LocalStore(root));
}

}  // namespace volmigrate::objstore
