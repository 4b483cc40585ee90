// Mutual TLS end to end: a real workerd (in process) with certificates from
// deploy/tls/make-certs.sh, called by clients with good, foreign and no identities.
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "common/files.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "workerd/daemon.h"

namespace volmigrate {
namespace {

class MtlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir() + "mtlsXXXXXX");
    ASSERT_NE(mkdtemp(dir_->data()), nullptr);
    std::string d = *dir_, rogue = d + "/rogue";
    std::string cmd = std::string("set -e; M=") + MAKE_CERTS + "; $M ca " + d + "; $M issue " + d +
                      " w1 ip:127.0.0.1; $M issue " + d + " w2; $M issue " + d + " operator; $M issue " + d +
                      " w3; $M ca " + rogue + "; $M issue " + rogue + " w2; mkdir -p " + d + "/roles; cp " + d + "/ca.* " + d +
                      "/roles/; $M issue " + d + "/roles w7 --role worker; $M issue " + d +
                      "/roles ops --role operator; $M issue " + d + "/roles w8; $M issue " + d +
                      "/roles w1 --role worker ip:127.0.0.1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  void SetUp() override {
    workerd::Config cfg;
    cfg.worker = "w1";
    cfg.listen = "127.0.0.1:0";
    cfg.data_dir = *dir_ + "/state-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    cfg.tls = Files("", "w1");
    cfg.peers = {{"w2", "127.0.0.1:1"}};
    auto d = workerd::Daemon::Start(cfg);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    addr_ = "127.0.0.1:" + std::to_string(daemon_->port());
  }

  static rpc::TlsFiles Files(const std::string& sub, const std::string& name) {
    std::string d = sub.empty() ? *dir_ : *dir_ + "/" + sub;
    return {d + "/ca.crt", d + "/" + name + ".crt", d + "/" + name + ".key"};
  }

  std::shared_ptr<grpc::Channel> Channel(const rpc::TlsFiles& f) {
    auto creds = rpc::ClientCredentials(f);
    EXPECT_TRUE(creds.ok()) << creds.status();
    return rpc::Dial(addr_, *creds, "w1");
  }

  static grpc::Status Health(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::HealthResponse r;
    return v1::Operator::NewStub(ch)->Health(&ctx, {}, &r);
  }

  static grpc::Status Offer(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::OfferMigrationResponse r;
    return v1::Peer::NewStub(ch)->OfferMigration(&ctx, {}, &r);
  }

  static grpc::Status List(const std::shared_ptr<grpc::Channel>& ch) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListVolumesResponse r;
    return v1::Operator::NewStub(ch)->ListVolumes(&ctx, {}, &r);
  }

  static std::string* dir_;
  std::unique_ptr<workerd::Daemon> daemon_;
  std::string addr_;
};
std::string* MtlsTest::dir_ = nullptr;

TEST_F(MtlsTest, OperatorWithACertificateFromTheCaIsServed) {
  EXPECT_TRUE(Health(Channel(Files("", "operator"))).ok());
}

TEST_F(MtlsTest, PeerCallsOnlyFromConfiguredPeers) {
  grpc::Status s = Offer(Channel(Files("", "operator")));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("'operator' is not a peer of worker w1"), std::string::npos);
  // w2 gets past authorization; its empty offer then fails validation.
  EXPECT_EQ(Offer(Channel(Files("", "w2"))).error_code(), grpc::INVALID_ARGUMENT);
}

// Every worker holds a certificate of the CA: none may operate another
// (delete, unseal, migrate its volumes); it may only ask for health.
TEST_F(MtlsTest, OnlyOperatorsOperate) {
  EXPECT_TRUE(List(Channel(Files("", "operator"))).ok());
  grpc::Status s = List(Channel(Files("", "w2")));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("'w2' is not an operator of worker w1"), std::string::npos) << s.error_message();
  EXPECT_TRUE(Health(Channel(Files("", "w2"))).ok()) << "peers check each other's health";
  // and poll the migrations they take part in (there is none here).
  grpc::ClientContext ctx;
  v1::GetMigrationRequest req;
  req.set_id("m-0123456789");
  v1::Migration m;
  EXPECT_EQ(v1::Operator::NewStub(Channel(Files("", "w2")))->GetMigration(&ctx, req, &m).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Health(Channel(Files("", "w3"))).error_code(), grpc::PERMISSION_DENIED) << "neither peer nor operator";
}

// A fleet: no peers listed, an address template. Any worker-role
// certificate is a peer, an operator-role one an operator; a certificate
// without the worker role is refused on the peer API, even one whose name
// would do.
TEST_F(MtlsTest, RolesInTheCertificateDecideInAFleet) {
  daemon_.reset();
  workerd::Config cfg;
  cfg.worker = "w1";
  cfg.listen = "127.0.0.1:0";
  cfg.data_dir = *dir_ + "/state-fleet";
  cfg.tls = Files("roles", "w1");
  cfg.address_template = "{name}.workers.test:7443";
  auto d = workerd::Daemon::Start(cfg);
  ASSERT_TRUE(d.ok()) << d.status();
  daemon_ = std::move(*d);
  addr_ = "127.0.0.1:" + std::to_string(daemon_->port());
  EXPECT_EQ(Offer(Channel(Files("roles", "w7"))).error_code(), grpc::INVALID_ARGUMENT) << "w7 is a peer";
  grpc::Status s = Offer(Channel(Files("roles", "w8")));
  EXPECT_EQ(s.error_code(), grpc::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("no worker role"), std::string::npos) << s.error_message();
  EXPECT_EQ(Offer(Channel(Files("roles", "ops"))).error_code(), grpc::PERMISSION_DENIED) << "an operator is no peer";
  EXPECT_TRUE(Health(Channel(Files("roles", "ops"))).ok());
  EXPECT_TRUE(List(Channel(Files("roles", "ops"))).ok());
  EXPECT_EQ(List(Channel(Files("roles", "w7"))).error_code(), grpc::PERMISSION_DENIED) << "a worker does not operate";
  EXPECT_EQ(daemon_->config().PeerAddress("w7"), "w7.workers.test:7443");
}

TEST_F(MtlsTest, ForeignCaIsRefused) {
  // A certificate named w2 but signed by another CA, trusting our CA for the server.
  rpc::TlsFiles f = Files("rogue", "w2");
  f.ca = *dir_ + "/ca.crt";
  EXPECT_EQ(Health(Channel(f)).error_code(), grpc::UNAVAILABLE);
}

TEST_F(MtlsTest, ClientWithoutCertificateIsRefused) {
  grpc::SslCredentialsOptions o;
  auto ca = ReadFile(*dir_ + "/ca.crt");
  ASSERT_TRUE(ca.ok());
  o.pem_root_certs = *ca;
  EXPECT_EQ(Health(rpc::Dial(addr_, grpc::SslCredentials(o), "w1")).error_code(), grpc::UNAVAILABLE);
}

TEST_F(MtlsTest, PlaintextClientIsRefused) {
  EXPECT_EQ(Health(rpc::Dial(addr_, grpc::InsecureChannelCredentials(), "")).error_code(), grpc::UNAVAILABLE);
}

TEST_F(MtlsTest, ServerNameIsVerified) {
  auto creds = rpc::ClientCredentials(Files("", "operator"));
  ASSERT_TRUE(creds.ok());
  // The server's certificate names w1, not w2: a client expecting w2 must refuse it.
  EXPECT_EQ(Health(rpc::Dial(addr_, *creds, "w2")).error_code(), grpc::UNAVAILABLE);
}

TEST_F(MtlsTest, CheckPeersNamesTheUnreachablePeer) {
  workerd::Config cfg = daemon_->config();
  absl::Status s = workerd::CheckPeers(cfg, absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("w2 at 127.0.0.1:1"), std::string::npos) << s;
  // Pointed at a live workerd that is really w1, the check notices the name mismatch.
  cfg.peers = {{"w2", addr_}};
  cfg.tls = Files("", "w2");
  s = workerd::CheckPeers(cfg, absl::Seconds(5));
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace volmigrate
