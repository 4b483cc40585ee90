#include "workerd/config.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace volmigrate::workerd {
namespace {

constexpr char kGood[] = R"(
worker = "w1"
listen = "127.0.0.1:7443"
data_dir = "/var/lib/volmigrate"

[tls]
ca = "/etc/volmigrate/tls/ca.crt"
cert = "/etc/volmigrate/tls/w1.crt"
key = "/etc/volmigrate/tls/w1.key"

[storage]
volume_group = "vg0"
thin_pool = "pool"
pbkdf = "pbkdf2"
pbkdf_iterations = 1000

[fsm]
max_concurrent = 2

[[peers]]
name = "w2"
address = "169.254.0.2:7443"
)";

TEST(Config, ParsesAFullFile) {
  auto c = ParseConfig(kGood, "w.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->worker, "w1");
  EXPECT_EQ(c->tls.cert, "/etc/volmigrate/tls/w1.crt");
  EXPECT_TRUE(c->storage.configured);
  EXPECT_EQ(c->storage.key_dir, "/var/lib/volmigrate/keys");
  EXPECT_EQ(c->storage.pbkdf, "pbkdf2");
  EXPECT_EQ(c->storage.pbkdf_iterations, 1000u);
  EXPECT_EQ(c->max_concurrent, 2);
  ASSERT_EQ(c->peers.size(), 1u);
  EXPECT_EQ(c->FindPeer("w2")->address, "169.254.0.2:7443");
  EXPECT_EQ(c->FindPeer("w3"), nullptr);
}

TEST(Config, OperatorsAreNamedAndNeverWorkers) {
  EXPECT_EQ(ParseConfig(kGood, "w.toml")->operators, std::vector<std::string>{"operator"});
  auto c = ParseConfig(std::string("operators = [\"ops\", \"scheduler\"]\n") + kGood, "w.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->IsOperator("scheduler"));
  EXPECT_FALSE(c->IsOperator("operator"));
  EXPECT_FALSE(c->IsOperator("w2"));
  for (const char* bad : {"operators = [\"w2\"]\n", "operators = [\"w1\"]\n", "operators = \"ops\"\n",
                          "operators = [\"Ops!\"]\n"}) {
    auto b = ParseConfig(std::string(bad) + kGood, "w.toml");
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseConfig(std::string("operators = [\"w2\"]\n") + kGood, "w.toml").status().message().find("is a worker"),
            std::string::npos);
}

TEST(Config, UnknownKeyNamesItsLine) {
  std::string text = std::string(kGood) + "\n[tls2]\nx = 1\n";
  auto c = ParseConfig(text, "w.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("w.toml:"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("unknown key 'tls2'"), std::string::npos) << c.status();
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  auto c = ParseConfig("worker = \"w1\"\nlisten = \n", "bad.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().substr(0, 10), "bad.toml:2") << c.status();
}

TEST(Config, TlsRequiredUnlessPlaintext) {
  auto c = ParseConfig("worker = \"w1\"\n", "x.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("[tls] needs ca, cert and key"), std::string::npos) << c.status();
  EXPECT_TRUE(ParseConfig("worker = \"w1\"\nplaintext = true\n", "x.toml").ok());
}

TEST(Config, RejectsBadValues) {
  for (const char* text : {
           "plaintext = true\n",                                              // no worker
           "worker = \"W1\"\nplaintext = true\n",                             // bad name
           "worker = \"w1\"\nplaintext = true\nlisten = \"nowhere\"\n",      // no port
           "worker = \"w1\"\nplaintext = true\ndata_dir = \"rel\"\n",        // relative
           "worker = \"w1\"\nplaintext = \"yes\"\n",                          // wrong type
           "worker = \"w1\"\nplaintext = true\n[fsm]\nmax_concurrent = 0\n",  // out of range
           "worker = \"w1\"\nplaintext = true\n[[peers]]\nname = \"w1\"\naddress = \"a:1\"\n",  // itself
           "worker = \"w1\"\nplaintext = true\n[[peers]]\nname = \"w2\"\naddress = \"a:1\"\n"
           "[[peers]]\nname = \"w2\"\naddress = \"b:1\"\n",  // twice
           "worker = \"w1\"\nplaintext = true\n[storage]\nvolume_group = \"vg\"\n",  // no pool
           "worker = \"w1\"\nplaintext = true\n[storage]\nvolume_group = \"v\"\nthin_pool = \"p\"\npbkdf = \"md5\"\n",
           "worker = \"w1\"\nplaintext = true\n[storage]\nvolume_group = \"v\"\nthin_pool = \"p\"\npbkdf_iterations = 5\n",
       }) {
    auto c = ParseConfig(text, "x.toml");
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(Config, MissingFileIsNotFound) {
  auto c = LoadConfig("/nonexistent/workerd.toml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("/nonexistent/workerd.toml"), std::string::npos);
}

TEST(Config, ValidNames) {
  EXPECT_TRUE(ValidName("w1"));
  EXPECT_TRUE(ValidName("vol-0a"));
  EXPECT_FALSE(ValidName(""));
  EXPECT_FALSE(ValidName("-x"));
  EXPECT_FALSE(ValidName("Vol"));
  EXPECT_FALSE(ValidName("a/b"));
  EXPECT_FALSE(ValidName(std::string(64, 'a')));
}

TEST(Config, TheShippedExampleParses) {
  auto c = LoadConfig(EXAMPLE_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->migration.iscsi_portal, "169.254.0.1:3260");
  EXPECT_EQ(c->migration.hydration_threshold, 256u);
  EXPECT_EQ(c->migration.retire, "keep");
  EXPECT_EQ(c->objstore.dir, "/var/lib/volmigrate/objects");
  EXPECT_EQ(c->objstore.parallel, 4);
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9464");
}

TEST(Config, AFleetFindsPeersByTemplate) {
  const std::string base = "worker = \"w1\"\nplaintext = true\n";
  auto c = ParseConfig(base + "[fleet]\naddress_template = \"{name}.workers.example:7443\"\n"
                              "[[peers]]\nname = \"w2\"\naddress = \"10.0.0.2:7443\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->PeerAddress("w2"), "10.0.0.2:7443");  // the list first
  EXPECT_EQ(c->PeerAddress("w9"), "w9.workers.example:7443");
  EXPECT_EQ(c->PeerAddress("w1"), "");  // itself
  EXPECT_EQ(c->PeerAddress("Bad/Name"), "");
  EXPECT_TRUE(c->IsPeer("w9"));
  auto listed = ParseConfig(base + "[[peers]]\nname = \"w2\"\naddress = \"10.0.0.2:7443\"\n", "t");
  EXPECT_FALSE(listed->IsPeer("w9"));
  EXPECT_EQ(listed->PeerAddress("w9"), "");
  for (const char* bad : {"workers.example:7443", "{name}.workers.example", "{name}:port"}) {
    auto b = ParseConfig(base + "[fleet]\naddress_template = \"" + bad + "\"\n", "t");
    EXPECT_TRUE(absl::StrContains(b.status().message(), "fleet.address_template")) << bad << ": " << b.status();
  }
}

TEST(Config, MetricsAreOffUnlessAnAddressIsGiven) {
  const std::string base = "worker = \"w1\"\nplaintext = true\n";
  EXPECT_EQ(ParseConfig(base, "t")->metrics_listen, "");
  EXPECT_EQ(ParseConfig(base + "[metrics]\nlisten = \"127.0.0.1:9464\"\n", "t")->metrics_listen, "127.0.0.1:9464");
  auto bad = ParseConfig(base + "[metrics]\nlisten = \"9464\"\n", "t");
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "metrics.listen")) << bad.status();
  EXPECT_FALSE(ParseConfig(base + "[metrics]\nport = 9464\n", "t").ok());
}

TEST(Config, MigrationTableIsChecked) {
  const std::string base = "worker = \"w1\"\nplaintext = true\n[migration]\n";
  EXPECT_TRUE(ParseConfig(base + "region_kib = 128\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "region_kib = 96\n", "t").ok());     // not a power of two
  auto reserve = ParseConfig(base + "pool_reserve_mib = 256\n", "t");
  ASSERT_TRUE(reserve.ok()) << reserve.status();
  EXPECT_EQ(reserve->migration.pool_reserve_mib, 256u);
  EXPECT_EQ(ParseConfig(base, "t")->migration.pool_reserve_mib, 64u);
  EXPECT_FALSE(ParseConfig(base + "pool_reserve_mib = -1\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "retire = \"never\"\n", "t").ok());
  EXPECT_EQ(ParseConfig(base, "t")->migration.retire_after_seconds, 24 * 3600);
  EXPECT_EQ(ParseConfig(base + "retire_after = \"90m\"\n", "t")->migration.retire_after_seconds, 90 * 60);
  EXPECT_EQ(ParseConfig(base + "retire_after = \"never\"\n", "t")->migration.retire_after_seconds, 0);
  EXPECT_FALSE(ParseConfig(base + "retire_after = \"0s\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "retire_after = \"a day\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "consumer_start = \"start.sh\"\n", "t").ok());  // relative
  EXPECT_FALSE(ParseConfig(base + "iscsi_portal = \"nohost\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "hydrate = 1\n", "t").ok());  // unknown key
}

}  // namespace
}  // namespace volmigrate::workerd

namespace volmigrate::workerd {
namespace {

TEST(Config, ObjstoreDefaultsToADirectoryUnderDataDir) {
  auto c = ParseConfig("worker = \"w1\"\nplaintext = true\ndata_dir = \"/srv/vm\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->objstore.kind, "dir");
  EXPECT_EQ(c->objstore.dir, "/srv/vm/objects");
  EXPECT_EQ(c->objstore.object_mib, 8u);
}

TEST(Config, ObjstoreTableIsChecked) {
  const std::string base = "worker = \"w1\"\nplaintext = true\n[objstore]\n";
  auto s3 = ParseConfig(base + "kind = \"s3\"\nendpoint = \"http://127.0.0.1:7480\"\nbucket = \"b\"\n"
                               "addressing = \"virtual-host\"\nobject_mib = 4\n", "t");
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_TRUE(s3->objstore.virtual_host);
  EXPECT_EQ(s3->objstore.object_mib, 4u);
  EXPECT_FALSE(ParseConfig(base + "kind = \"s3\"\nbucket = \"b\"\n", "t").ok());           // no endpoint
  EXPECT_FALSE(ParseConfig(base + "kind = \"tape\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "dir = \"relative\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "object_mib = 0\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "part_mib = 1\n", "t").ok());                          // S3 parts are >= 5 MiB
  EXPECT_FALSE(ParseConfig(base + "addressing = \"dns\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig(base + "secret = \"x\"\n", "t").ok());                         // unknown key
}

}  // namespace
}  // namespace volmigrate::workerd
