// S3 over libcurl: SigV4 signing is libcurl's (CURLOPT_AWS_SIGV4); this file
// builds URLs, maps HTTP answers to statuses and reads the few XML replies.
#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "objstore/store.h"

namespace volmigrate::objstore {

namespace {

// S3's URI encoding: unreserved characters stay, '/' too in paths.
std::string Encode(std::string_view s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The text of every <tag>...</tag> in an XML reply, in order.
std::vector<std::string> XmlValues(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string::npos) {
    pos += open.size();
    size_t end = xml.find(close, pos);
    if (end == std::string::npos) break;
    std::string v = xml.substr(pos, end - pos);
    // The only entities S3 uses in keys and tokens.
    for (auto [from, to] : {std::pair{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&apos;", "'"}}) {
      for (size_t at; (at = v.find(from)) != std::string::npos;) v.replace(at, std::string_view(from).size(), to);
    }
    out.push_back(std::move(v));
    pos = end + close.size();
  }
  return out;
}

struct Response {
  long code = 0;
  std::string body;
  std::string etag;
};

struct Upload {
  std::string_view data;
  size_t off = 0;
};

size_t OnWrite(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}
size_t OnRead(char* p, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t k = std::min(size * n, u->data.size() - u->off);
  std::copy_n(u->data.data() + u->off, k, p);
  u->off += k;
  return k;
}
size_t OnHeader(char* p, size_t size, size_t n, void* user) {
  std::string_view line(p, size * n);
  if (line.size() > 5 && strncasecmp(line.data(), "etag:", 5) == 0) {
    std::string v(line.substr(5));
    v.erase(0, v.find_first_not_of(" \t"));
    v.erase(v.find_last_not_of(" \t\r\n") + 1);
    static_cast<Response*>(user)->etag = v;
  }
  return size * n;
}

class S3Store final : public ObjectStore {
 public:
  explicit S3Store(S3Options o) : o_(std::move(o)) {
    std::string rest = o_.endpoint;
    size_t scheme = rest.find("://");
    scheme_ = rest.substr(0, scheme);
    host_ = rest.substr(scheme + 3);
    while (!host_.empty() && host_.back() == '/') host_.pop_back();
    sigv4_ = absl::StrCat("aws:amz:", o_.region, ":s3");
  }

  absl::Status Put(const std::string& name, const std::string& data) override {
    if (data.size() >= o_.multipart_bytes) return PutMultipart(name, data);
    ASSIGN_OR_RETURN(Response r, Call("PUT", Url(name, ""), &data, ""));
    return Check(r, "PUT", name);
  }

  absl::StatusOr<std::string> Get(const std::string& name) override {
    ASSIGN_OR_RETURN(Response r, Call("GET", Url(name, ""), nullptr, ""));
    RETURN_IF_ERROR(Check(r, "GET", name));
    return std::move(r.body);
  }

  absl::StatusOr<std::string> GetRange(const std::string& name, uint64_t offset, uint64_t length) override {
    if (length == 0) return std::string();
    ASSIGN_OR_RETURN(Response r, Call("GET", Url(name, ""), nullptr,
                                      absl::StrCat("Range: bytes=", offset, "-", offset + length - 1)));
    if (r.code == 416) return std::string();  // offset at or past the end
    RETURN_IF_ERROR(Check(r, "GET", name));
    if (r.code == 200 && r.body.size() > length) r.body = r.body.substr(offset, length);  // Range ignored
    return std::move(r.body);
  }

  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string token;
    for (;;) {
      // Query parameters in code-point order, values encoded: SigV4's canonical form.
      std::string q = token.empty() ? "" : absl::StrCat("continuation-token=", Encode(token, false), "&");
      absl::StrAppend(&q, "list-type=2&prefix=", Encode(prefix, false));
      ASSIGN_OR_RETURN(Response r, Call("GET", Url("", q), nullptr, ""));
      RETURN_IF_ERROR(Check(r, "LIST", prefix));
      std::vector<std::string> keys = XmlValues(r.body, "Key"), sizes = XmlValues(r.body, "Size");
      if (keys.size() != sizes.size()) return absl::DataLossError("S3 list reply: keys and sizes do not pair up");
      for (size_t i = 0; i < keys.size(); ++i) {
        uint64_t n = 0;
        if (!absl::SimpleAtoi(sizes[i], &n)) return absl::DataLossError("S3 list reply: bad size");
        out.push_back({keys[i], n});
      }
      std::vector<std::string> truncated = XmlValues(r.body, "IsTruncated"), next = XmlValues(r.body, "NextContinuationToken");
      if (truncated.empty() || truncated[0] != "true" || next.empty()) break;
      token = next[0];
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return out;
  }

  absl::Status Delete(const std::string& name) override {
    ASSIGN_OR_RETURN(Response r, Call("DELETE", Url(name, ""), nullptr, ""));
    if (r.code == 404) return absl::OkStatus();
    return Check(r, "DELETE", name);
  }

  std::string Describe() const override {
    return absl::StrCat("s3:", o_.endpoint, "/", o_.bucket, o_.virtual_host ? " (virtual-host)" : "");
  }

 private:
  std::string Url(const std::string& key, const std::string& query) const {
    std::string path = o_.virtual_host ? absl::StrCat("/", Encode(key, true))
                                       : absl::StrCat("/", o_.bucket, key.empty() ? "" : "/", Encode(key, true));
    std::string host = o_.virtual_host ? absl::StrCat(o_.bucket, ".", host_) : host_;
    return absl::StrCat(scheme_, "://", host, path, query.empty() ? "" : "?", query);
  }

  absl::StatusOr<Response> Call(const char* method, const std::string& url, const std::string* body,
                                const std::string& extra_header) {
    std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) return absl::InternalError("curl_easy_init failed");
    Response r;
    Upload up{body ? std::string_view(*body) : std::string_view()};
    curl_slist* raw = nullptr;
    // radosgw (and S3) want the payload hash header; the payload's own CRCs
    // are in the object format, so it is not hashed twice.
    raw = curl_slist_append(raw, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (!extra_header.empty()) raw = curl_slist_append(raw, extra_header.c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(raw, curl_slist_free_all);
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c.get(), CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, o_.access_key.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, o_.secret_key.c_str());
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, o_.timeout_seconds);
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &r);
    if (std::string_view(method) == "PUT") {
      curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);
      curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(up.data.size()));
    } else if (std::string_view(method) == "POST") {
      curl_easy_setopt(c.get(), CURLOPT_POST, 1L);
      curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body ? body->data() : "");
      curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body ? body->size() : 0));
    } else if (std::string_view(method) == "DELETE") {
      curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat(method, " ", Describe(), ": ", curl_easy_strerror(rc)));
    }
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.code);
    return r;
  }

  // 2xx is success; the rest becomes a status naming S3's error code (never credentials).
  absl::Status Check(const Response& r, const char* what, const std::string& name) const {
    if (r.code >= 200 && r.code < 300) return absl::OkStatus();
    std::vector<std::string> code = XmlValues(r.body, "Code");
    std::string msg = absl::StrCat(what, " ", name, " at ", Describe(), ": HTTP ", r.code,
                                   code.empty() ? "" : absl::StrCat(" ", code[0]));
    if (r.code == 404) return absl::NotFoundError(msg);
    if (r.code == 403 || r.code == 401) return absl::PermissionDeniedError(msg);
    if (r.code >= 500 || r.code == 429 || r.code == 408) return absl::UnavailableError(msg);
    return absl::FailedPreconditionError(msg);
  }

  absl::Status PutMultipart(const std::string& name, const std::string& data) {
    ASSIGN_OR_RETURN(Response init, Call("POST", Url(name, "uploads="), nullptr, ""));
    RETURN_IF_ERROR(Check(init, "POST uploads", name));
    std::vector<std::string> ids = XmlValues(init.body, "UploadId");
    if (ids.empty()) return absl::DataLossError("S3 multipart initiation reply has no UploadId");
    const std::string id = Encode(ids[0], false);
    absl::Status s = [&]() -> absl::Status {
      std::string done = "<CompleteMultipartUpload>";
      const uint64_t part = std::max<uint64_t>(o_.part_bytes, 5ull << 20);
      int n = 0;
      for (uint64_t off = 0; off < data.size(); off += part) {
        ++n;
        std::string chunk = data.substr(off, part);
        ASSIGN_OR_RETURN(Response r, Call("PUT", Url(name, absl::StrCat("partNumber=", n, "&uploadId=", id)), &chunk, ""));
        RETURN_IF_ERROR(Check(r, "PUT part", name));
        absl::StrAppend(&done, "<Part><PartNumber>", n, "</PartNumber><ETag>", r.etag, "</ETag></Part>");
      }
      absl::StrAppend(&done, "</CompleteMultipartUpload>");
      ASSIGN_OR_RETURN(Response r, Call("POST", Url(name, absl::StrCat("uploadId=", id)), &done, ""));
      RETURN_IF_ERROR(Check(r, "POST complete", name));
      // S3 may answer 200 with an error document.
      if (!XmlValues(r.body, "Error").empty()) return absl::UnavailableError(absl::StrCat("completing ", name, ": ", r.body));
      return absl::OkStatus();
    }();
    if (!s.ok()) (void)Call("DELETE", Url(name, absl::StrCat("uploadId=", id)), nullptr, "");  // abort: no stray parts
    return s;
  }

  S3Options o_;
  std::string scheme_, host_, sigv4_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectStore>> NewS3Store(S3Options o) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (o.access_key.empty()) {
    if (const char* v = std::getenv("AWS_ACCESS_KEY_ID")) o.access_key = v;
  }
  if (o.secret_key.empty()) {
    if (const char* v = std::getenv("AWS_SECRET_ACCESS_KEY")) o.secret_key = v;
  }
  if (o.endpoint.find("://") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("S3 endpoint needs a scheme (http:// or https://): '", o.endpoint, "'"));
  }
  if (o.bucket.empty()) return absl::InvalidArgumentError("S3 bucket is empty");
  if (o.access_key.empty() || o.secret_key.empty()) {
    return absl::InvalidArgumentError(
        "S3 credentials missing: set access_key/secret_key in [objstore] or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
  }
  if (o.part_bytes < (5ull << 20)) return absl::InvalidArgumentError("S3 part size must be at least 5 MiB");
  return std::unique_ptr<ObjectStore>(new S3Store(std::move(o)));
}

}  // namespace volmigrate::objstore
