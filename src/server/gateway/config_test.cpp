// The serve config: TOML sections, environment overrides, and precise problems for check-config.
#include "gateway/config.hpp"

#include "gateway/cluster_node.hpp"
#include "gateway/config_key_list.hpp"
#include "jwt_test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <unistd.h>

namespace rtcache::gateway {
namespace {

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

constexpr std::string_view k_secret = "0123456789abcdef0123456789abcdef";

TEST(GatewayConfig, ReadsEverySection) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"(
[server]
listen = "0.0.0.0:4100"
threads = 3
log_level = "debug"
[auth]
jwt_secret = "0123456789abcdef0123456789abcdef"
scope_claim = "app_metadata.factories"
[limits]
max_send_queue_bytes = 65536
joins_per_second = 2.5
idle_timeout_ms = 1000
deadline_tick_ms = 20
[hub]
max_history_messages = 16
[contract]
doc_types = ["wo", "pl"]
)",
                   "a.toml", c, problems);
  EXPECT_TRUE(problems.empty()) << problems.front().where << ": " << problems.front().message;
  EXPECT_EQ(c.gateway.listen_address, "0.0.0.0");
  EXPECT_EQ(c.gateway.port, 4100);
  EXPECT_EQ(c.gateway.threads, 3U);
  EXPECT_EQ(c.log, log_level::debug);
  EXPECT_EQ(c.auth.scope_claim, "app_metadata.factories");
  EXPECT_EQ(c.gateway.limits.max_send_queue_bytes, 65536U);
  EXPECT_EQ(c.gateway.limits.joins_per_second, 2.5);
  EXPECT_EQ(c.gateway.limits.idle_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.gateway.limits.deadline_tick, std::chrono::milliseconds(20));
  EXPECT_EQ(c.hub.max_history_messages, 16U);
  EXPECT_EQ(c.doc_types, (std::vector<std::string>{"wo", "pl"}));
}

TEST(GatewayConfig, ReportsEveryProblemWithItsPosition) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml("[server]\nlisten = \"nope\"\nthreads = -1\ncolour = 1\n[limits]\nmax_frame_bytes = \"big\"\n",
                   "b.toml", c, problems);
  ASSERT_EQ(problems.size(), 4U);
  EXPECT_EQ(problems[0].where, "b.toml:2:10 server.listen");
  EXPECT_NE(problems[0].message.find("host:port"), std::string::npos);
  EXPECT_EQ(problems[1].where, "b.toml:3:11 server.threads");
  EXPECT_EQ(problems[2].where, "b.toml:4:10 server.colour");
  EXPECT_EQ(problems[3].where, "b.toml:6:19 limits.max_frame_bytes");
}

TEST(GatewayConfig, SyntaxErrorIsOneProblemWithItsPosition) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml("[server\n", "c.toml", c, problems);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].where.rfind("c.toml:1:", 0), 0U);
}

TEST(GatewayConfig, NoFileIsRelayModeOnLoopback4000OnceASecretIsSet) {
  const auto missing = load_config(std::nullopt, env_of({}));
  ASSERT_EQ(missing.problems.size(), 1U);
  EXPECT_EQ(missing.problems[0].where, "auth.jwt_secret");
  const auto ok = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)}}));
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.gateway.listen_address, "127.0.0.1");
  EXPECT_EQ(ok.config.gateway.port, 4000);
}

TEST(GatewayConfig, EnvironmentOverridesAndIsChecked) {
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                   {"RTCACHE_LISTEN", "[::1]:0"},
                                                   {"RTCACHE_THREADS", "x"},
                                                   {"RTCACHE_LOG_LEVEL", "error"}}));
  ASSERT_EQ(l.problems.size(), 1U);
  EXPECT_EQ(l.problems[0].where, "env RTCACHE_THREADS");
  EXPECT_EQ(l.config.gateway.listen_address, "::1");
  EXPECT_EQ(l.config.log, log_level::error);
}

TEST(GatewayConfig, ShortSecretAndBadDocTypesAreRefused) {
  serve_config c;
  c.auth.jwt_secret = "short";
  c.doc_types = {"Bad-Type"};
  std::vector<core::config_problem> problems;
  validate(c, problems);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].where, "auth.jwt_secret");
  EXPECT_EQ(problems[1].where, "contract.doc_types");
}

// ---- the mapping and [postgres] in the same file ----

TEST(GatewayConfig, MappingSectionsAndPostgresAreReadFromTheSameFile) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"(
doc_types = ["wo", "lot"]
[server]
listen = "127.0.0.1:4001"
[routing]
list_row_limit = 50
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
[tables."public.news"]
public = true
[postgres]
conninfo = "host=/tmp dbname=app"
slot = "s1"
publication = "p1"
create_slot = false
create_publication = false
status_interval_ms = 250
wal_sender_timeout_ms = 2000
standby_retry_ms = 100
max_unconfirmed_messages = 500
publish_stall_ms = 4000
[hub]
linger_ms = 5000
max_idle_bytes = 4096
max_total_history_bytes = 8388608
)",
                   "m.toml", c, problems);
  ASSERT_TRUE(problems.empty()) << problems.front().where << ": " << problems.front().message;
  ASSERT_TRUE(c.mapping);
  EXPECT_EQ(c.gateway.mapping, c.mapping);
  EXPECT_EQ(c.mapping->tables.size(), 2U);
  EXPECT_EQ(c.mapping->limits.list_row_limit, 50U);
  EXPECT_EQ(c.doc_types, (std::vector<std::string>{"lot", "wo"}));
  EXPECT_TRUE(c.postgres.enabled);
  EXPECT_EQ(c.postgres.conninfo, "host=/tmp dbname=app");
  EXPECT_EQ(c.postgres.slot, "s1");
  EXPECT_EQ(c.postgres.publication, "p1");
  EXPECT_FALSE(c.postgres.create_slot);
  EXPECT_FALSE(c.postgres.create_publication);
  EXPECT_EQ(c.postgres.status_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(c.postgres.wal_sender_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.postgres.standby_retry, std::chrono::milliseconds(100));
  EXPECT_EQ(c.postgres.max_unconfirmed_messages, 500U);
  EXPECT_EQ(c.postgres.publish_stall, std::chrono::milliseconds(4000));
  EXPECT_EQ(c.hub.linger, std::chrono::milliseconds(5000));
  EXPECT_EQ(c.hub.max_idle_bytes, 4096U);
  EXPECT_EQ(c.hub.max_total_history_bytes, 8388608U);
}

TEST(GatewayConfig, MappingErrorsAreProblemsWithTheirFilePosition) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(
      "[server]\nthreads = 1\n[tables.\"public.t\"]\ndoc_type = \"nope\"\nid_column = \"id\"\n"
      "factory_column = \"f\"\n",
      "e.toml", c, problems);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].where, "e.toml:4:12 tables.'public.t'.doc_type");
  EXPECT_NE(problems[0].message.find("doc type 'nope' is not registered"), std::string::npos) << problems[0].message;
  EXPECT_FALSE(c.mapping);
}

// issue 14, item 3: the mapping reports like every other section: all of its problems, each at its place.
TEST(GatewayConfig, EveryMappingProblemIsReportedBesideTheOthers) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(
      "[server]\nthreads = -1\n[routing]\nlist_row_limit = 0\n[tables.a]\npublic = 'yes'\n"
      "[tables.b]\ndoc_type = 'wo'\n",
      "f.toml", c, problems);
  ASSERT_EQ(problems.size(), 5U);
  EXPECT_EQ(problems[0].where, "f.toml:2:11 server.threads");
  EXPECT_EQ(problems[1].where, "f.toml:4:18 routing.list_row_limit");
  EXPECT_EQ(problems[2].where, "f.toml:6:10 tables.'a'.public");
  EXPECT_EQ(problems[3].where, "f.toml:7:1 tables.'b'");
  EXPECT_EQ(problems[3].message, "doc_type 'wo' needs id_column");
  EXPECT_EQ(problems[4], (core::config_problem{"f.toml:7:1 tables.'b'", "doc_type 'wo' needs factory_column"}));
  EXPECT_FALSE(c.mapping);
}

TEST(GatewayConfig, PostgresNeedsAConninfoWhichTheEnvironmentMayGive) {
  serve_config c;
  c.auth.jwt_secret = std::string(k_secret);
  c.postgres.enabled = true;
  std::vector<core::config_problem> problems;
  validate(c, problems);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].where, "postgres.conninfo");
  EXPECT_EQ(problems[1].where, "postgres");  // and a mapping: see the next test
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                   {"RTCACHE_PG_CONNINFO", "postgresql:///app"}}));
  EXPECT_TRUE(l.config.postgres.enabled);
  EXPECT_EQ(l.config.postgres.conninfo, "postgresql:///app");
}

// issue 13: the reader's keys have safe defaults (a hung reader loses the slot within 3 s; NATS may be away 10 s)
// and refuse values that would defeat them.
TEST(GatewayConfig, TheReadersKeysDefaultSafelyAndRefuseWhatWouldDefeatThem) {
  const postgres_settings defaults;
  EXPECT_EQ(defaults.wal_sender_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(defaults.standby_retry, std::chrono::milliseconds(250));
  EXPECT_EQ(defaults.max_unconfirmed_messages, 16384U);
  EXPECT_EQ(defaults.publish_stall, std::chrono::milliseconds(10000));
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"([postgres]
wal_sender_timeout_ms = 500
standby_retry_ms = 0
max_unconfirmed_messages = 0
publish_stall_ms = -1
)",
                   "r.toml", c, problems);
  ASSERT_EQ(problems.size(), 4U);
  EXPECT_EQ(problems[0].where, "r.toml:2:25 postgres.wal_sender_timeout_ms");
  EXPECT_EQ(problems[1].where, "r.toml:3:20 postgres.standby_retry_ms");
  EXPECT_EQ(problems[2].where, "r.toml:4:28 postgres.max_unconfirmed_messages");
  EXPECT_EQ(problems[3].where, "r.toml:5:20 postgres.publish_stall_ms");
  problems.clear();
  read_config_toml("[postgres]\nwal_sender_timeout_ms = 0\n", "z.toml", c, problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.postgres.wal_sender_timeout, std::chrono::milliseconds(0));
}

TEST(GatewayConfig, PostgresWithoutATableMappingIsRefusedBeforeStreaming) {
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                   {"RTCACHE_PG_CONNINFO", "postgresql:///app"}}));
  ASSERT_EQ(l.problems.size(), 1U);
  EXPECT_EQ(l.problems[0].where, "postgres");
  EXPECT_NE(l.problems[0].message.find("table mapping"), std::string::npos) << l.problems[0].message;
}

// ---- RS256 / ES256 public keys ----

class KeyFiles : public ::testing::Test {
 protected:
  KeyFiles() {
    dir_ = std::filesystem::temp_directory_path() /
           ("rtcache-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  ~KeyFiles() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }

  static std::string claims() {
    const auto exp =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
        3600;
    return R"({"role":"service_role","exp":)" + std::to_string(exp) + "}";
  }
  static std::chrono::sys_seconds now() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }

  std::filesystem::path dir_;
  const std::string rsa_ = testing::generate_rsa_private_pem(2048);
  const std::string ec_ = testing::generate_ec_private_pem("P-256");
};

TEST_F(KeyFiles, PublicKeysFromPemFilesVerifyTheirTokensWithoutAnHs256Secret) {
  write("rsa.pem", testing::public_pem_of(rsa_));
  write("ec.pem", testing::public_pem_of(ec_));
  const std::string path = write("rtcache.toml", R"(
[auth]
jwt_public_keys = [{alg = "RS256", kid = "r1", pem_file = "rsa.pem"}, {alg = "ES256", pem_file = "ec.pem"}]
)");
  const auto l = load_config(path, env_of({}));
  ASSERT_TRUE(l.ok()) << l.problems.front().where << ": " << l.problems.front().message;
  ASSERT_EQ(l.config.auth.public_keys.size(), 2U);
  const auto v = make_verifier(l.config.auth);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify(
      testing::make_token(testing::header_for(auth::jwt_alg::rs256, "r1"), claims(), auth::jwt_alg::rs256, rsa_),
      now()));
  EXPECT_TRUE(v->verify(
      testing::make_token(testing::header_for(auth::jwt_alg::es256), claims(), auth::jwt_alg::es256, ec_), now()));
  // An HS256 token cannot pass: no secret is configured.
  EXPECT_FALSE(v->verify(testing::make_token(testing::header_for(auth::jwt_alg::hs256), claims(), auth::jwt_alg::hs256,
                                             std::string(k_secret)),
                         now()));
}

TEST_F(KeyFiles, EnvironmentAddsKeysBesideTheSecret) {
  const std::string pem = write("rsa.pem", testing::public_pem_of(rsa_));
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                   {"RTCACHE_JWT_PUBLIC_KEYS", "RS256:k9=" + pem}}));
  ASSERT_TRUE(l.ok()) << l.problems.front().where << ": " << l.problems.front().message;
  const auto v = make_verifier(l.config.auth);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify(
      testing::make_token(testing::header_for(auth::jwt_alg::rs256, "k9"), claims(), auth::jwt_alg::rs256, rsa_),
      now()));
  EXPECT_TRUE(v->verify(testing::make_token(testing::header_for(auth::jwt_alg::hs256), claims(), auth::jwt_alg::hs256,
                                            std::string(k_secret)),
                        now()));
}

TEST_F(KeyFiles, BadKeysAreProblemsNamingWhereTheyWereConfigured) {
  write("ec.pem", testing::public_pem_of(ec_));
  const std::string path = write("bad.toml", R"([auth]
jwt_public_keys = [{alg = "HS256", pem = "x"}, {alg = "RS256", pem_file = "missing.pem"}, {alg = "RS256", pem_file = "ec.pem"}]
)");
  const auto l = load_config(path, env_of({}));
  ASSERT_FALSE(l.ok());
  std::string all;
  for (const auto& p : l.problems) all += p.where + ": " + p.message + "\n";
  EXPECT_NE(all.find("auth.jwt_public_keys[0].alg: must be \"RS256\" or \"ES256\""), std::string::npos) << all;
  EXPECT_NE(all.find("auth.jwt_public_keys[1].pem_file: cannot read"), std::string::npos) << all;
  EXPECT_NE(all.find("auth.jwt_public_keys[2]"), std::string::npos) << all;  // an EC key given as RS256
  const auto env = load_config(std::nullopt, env_of({{"RTCACHE_JWT_PUBLIC_KEYS", "PS256=/x"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.problems[0].where, "env RTCACHE_JWT_PUBLIC_KEYS[0]");
}

// ---- Supabase API keys and JWKS (issue 11) ----

const std::string k_pub = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const std::string k_pub2 = "sb_publishable_Zz9-8yXwVu7tSrQpOnMlKj_iHgFeDcB";
const std::string k_sec = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const std::string k_sec2 = "sb_secret_aB3dE5fG7hI9jK1lM3nO5p_Q7rS9tU1v";

std::string all_problems(const config_load& l) {
  std::string all;
  for (const auto& p : l.problems) all += p.where + ": " + p.message + "\n";
  return all;
}

TEST_F(KeyFiles, ApiKeysFromTheFileAreAcceptedAsAnonAndServiceRole) {
  const std::string path = write("keys.toml", R"([auth]
jwt_secret = "0123456789abcdef0123456789abcdef"
publishable_keys = [")" + k_pub + R"("]
secret_keys = [")" + k_sec + R"(", ")" + k_sec2 + R"("]
)");
  const auto l = load_config(path, env_of({}));
  ASSERT_TRUE(l.ok()) << all_problems(l);
  ASSERT_EQ(l.config.auth.secret_keys.size(), 2U);
  EXPECT_NE(l.config.auth.secret_keys[1].where.find("keys.toml:4:"), std::string::npos)
      << l.config.auth.secret_keys[1].where;
  EXPECT_NE(l.config.auth.secret_keys[1].where.find("auth.secret_keys[1]"), std::string::npos);
  const auto v = make_verifier(l.config.auth).value();
  EXPECT_EQ(v.verify(k_pub, now())->role, auth::auth_role::anon);
  EXPECT_EQ(v.verify(k_sec2, now())->role, auth::auth_role::service_role);
  EXPECT_EQ(v.verify(k_pub2, now()).error().code, auth::auth_errc::unknown_api_key);
}

TEST_F(KeyFiles, TheEnvironmentsApiKeysReplaceTheFilesSoAKeyLeftInAFileStopsWorking) {
  const std::string path =
      write("keys.toml", "[auth]\npublishable_keys = [\"" + k_pub + "\"]\nsecret_keys = [\"" + k_sec + "\"]\n");
  const auto l = load_config(path, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                           {"RTCACHE_SECRET_KEYS", k_sec2},
                                           {"RTCACHE_PUBLISHABLE_KEYS", " " + k_pub + " , " + k_pub2 + " "}}));
  ASSERT_TRUE(l.ok()) << all_problems(l);
  const auto v = make_verifier(l.config.auth).value();
  EXPECT_EQ(v.verify(k_sec, now()).error().code, auth::auth_errc::unknown_api_key);  // replaced
  EXPECT_EQ(v.verify(k_sec2, now())->role, auth::auth_role::service_role);
  EXPECT_EQ(v.verify(k_pub2, now())->role, auth::auth_role::anon);
  EXPECT_EQ(l.config.auth.publishable_keys[1].where, "env RTCACHE_PUBLISHABLE_KEYS[1]");
}

TEST_F(KeyFiles, MalformedApiKeysAreProblemsAtTheirPlaceThatNeverQuoteTheKey) {
  const std::string path = write(
      "bad-keys.toml", "[auth]\njwt_secret = \"" + std::string(k_secret) + "\"\npublishable_keys = [\"" + k_sec +
                           "\", \"sb_publishable_short\", \"" + k_pub + "\", \"" + k_pub + "\"]\nsecret_keys = 5\n");
  const auto l = load_config(path, env_of({{"RTCACHE_SECRET_KEYS", k_sec + ",," + k_pub}}));
  ASSERT_FALSE(l.ok());
  const std::string all = all_problems(l);
  EXPECT_NE(all.find("bad-keys.toml:4:15 auth.secret_keys: must be an array of strings"), std::string::npos) << all;
  EXPECT_NE(all.find("bad-keys.toml:3:21 auth.publishable_keys[0]: is a secret key (sb_secret_...), not a "
                     "publishable key"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("auth.publishable_keys[1]: has 5 characters after sb_publishable_"), std::string::npos) << all;
  EXPECT_NE(all.find("auth.publishable_keys[3]: the same key as "), std::string::npos) << all;
  EXPECT_NE(all.find("bad-keys.toml:3:90 auth.publishable_keys[2]\n"), std::string::npos) << all;
  EXPECT_NE(all.find("env RTCACHE_SECRET_KEYS[1]: empty item"), std::string::npos) << all;
  EXPECT_NE(all.find("env RTCACHE_SECRET_KEYS[2]: is a publishable key"), std::string::npos) << all;
  // Whatever went wrong, no key's random part reaches a problem (check-config prints them on a terminal).
  for (const std::string& key : {k_sec, k_pub})
    EXPECT_EQ(all.find(key.substr(key.rfind('_') - 8, 8)), std::string::npos) << all;
}

TEST_F(KeyFiles, AJwksFileVerifiesItsKeysTokensAndItsProblemsAreChecked) {
  const std::string jwks = write("jwks.json", testing::jwks_of({testing::public_jwk_of(ec_, "ec-1")}));
  const std::string path = write("jwks.toml", R"([auth]
jwks_file = "jwks.json"
jwks_refresh_s = 300
jwks_min_refetch_s = 5
jwks_timeout_ms = 2000
)");
  const auto l = load_config(path, env_of({}));
  ASSERT_TRUE(l.ok()) << all_problems(l);    // a JWKS alone is a JWT key source: no secret needed
  EXPECT_EQ(l.config.auth.jwks_file, jwks);  // relative to the config file
  EXPECT_EQ(jwks_cache_config_of(l.config.auth).refresh, std::chrono::seconds(300));
  EXPECT_EQ(jwks_cache_config_of(l.config.auth).min_refetch, std::chrono::seconds(5));
  EXPECT_EQ(jwks_fetch_options_of(l.config.auth).timeout, std::chrono::milliseconds(2000));
  const auto source = jwks_source_of(l.config.auth);
  ASSERT_TRUE(source);
  EXPECT_FALSE(source->url);
  jwks_service service(*source, jwks_cache_config_of(l.config.auth), {}, {});
  service.start();
  const auto v = make_verifier(l.config.auth, service.cache()).value();
  const auto token =
      testing::make_token(testing::header_for(auth::jwt_alg::es256, "ec-1"), claims(), auth::jwt_alg::es256, ec_);
  EXPECT_EQ(v.verify(token, now())->role, auth::auth_role::service_role);

  write("empty.json", R"({"keys":[{"kty":"OKP","kid":"ed"}]})");
  const std::string bad = write("bad-jwks.toml", R"([auth]
jwks_file = "empty.json"
jwks_url = "http://example.com/jwks.json"
jwks_min_refetch_s = 900
jwks_refresh_s = 600
jwks_ca_file = "nope.pem"
)");
  const std::string all = all_problems(load_config(bad, env_of({})));
  EXPECT_NE(all.find("auth.jwks_url: give jwks_url or jwks_file, not both"), std::string::npos) << all;
  EXPECT_NE(all.find("auth.jwks_url: jwks_url 'http://example.com/jwks.json': plain http is accepted for loopback "
                     "hosts only"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("empty.json: no usable key; keys[0] (kid 'ed'): kty 'OKP' is not supported"), std::string::npos)
      << all;
  EXPECT_NE(all.find("auth.jwks_min_refetch_s: must not exceed jwks_refresh_s (600)"), std::string::npos) << all;
  EXPECT_NE(all.find("auth.jwks_ca_file: cannot read"), std::string::npos) << all;
  const auto env = load_config(std::nullopt,
                               env_of({{"RTCACHE_JWKS_URL", "https://abc.supabase.co/auth/v1/.well-known/jwks.json"}}));
  EXPECT_TRUE(env.ok()) << all_problems(env);
  EXPECT_EQ(jwks_source_of(env.config.auth)->url->host, "abc.supabase.co");
}

TEST(GatewayConfig, ApiKeysAloneAreNotAJwtKeySource) {
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_PUBLISHABLE_KEYS", k_pub}}));
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.problems[0].where, "auth.jwt_secret");
  EXPECT_NE(l.problems[0].message.find("jwks_url"), std::string::npos) << l.problems[0].message;
}

}  // namespace
}  // namespace rtcache::gateway

namespace rtcache::gateway {
namespace {

// ---- issue 11: the isolation keys ----

TEST(GatewayConfig, ReadsTheIsolationKeys) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"(
[limits]
max_connections_per_ip = 32
client_broadcasts_per_second = 5
client_broadcast_burst = 8
client_broadcast_bytes_per_second = 4096
client_broadcast_bytes_burst = 8192
[hub]
max_idle_channels = 1000
max_views_per_channel = 8
[broadcast]
from_clients = "public"
[channels]
private_only = true
[[channels.private]]
topic = "team:*"
roles = ["authenticated"]
claims = { "app_metadata.teams" = "{1}" }
actions = ["read", "write"]
[[channels.private]]
topic = "announcements"
roles = ["anon", "authenticated"]
[metrics]
bearer_token = "scrape-token-0123456789"
listen = "127.0.0.1:9464"
)",
                   "i.toml", c, problems);
  ASSERT_TRUE(problems.empty()) << problems.front().where << ": " << problems.front().message;
  const auto& l = c.gateway.limits;
  EXPECT_EQ(l.max_connections_per_ip, 32U);
  EXPECT_EQ(l.client_broadcasts.messages_per_second, 5);
  EXPECT_EQ(l.client_broadcasts.message_burst, 8);
  EXPECT_EQ(l.client_broadcasts.bytes_per_second, 4096);
  EXPECT_EQ(l.client_broadcasts.byte_burst, 8192);
  EXPECT_EQ(c.hub.max_idle_channels, 1000U);
  EXPECT_EQ(c.hub.max_views_per_channel, 8U);
  const auto& ch = c.gateway.channels;
  EXPECT_EQ(ch.from_clients, auth::client_broadcasts::public_only);
  EXPECT_TRUE(ch.private_only);
  ASSERT_EQ(ch.private_rules.size(), 2U);
  EXPECT_EQ(ch.private_rules[0].topic, "team:*");
  EXPECT_EQ(ch.private_rules[0].roles, std::vector<auth::auth_role>{auth::auth_role::authenticated});
  EXPECT_EQ(ch.private_rules[0].claims,
            (std::vector<std::pair<std::string, std::string>>{{"app_metadata.teams", "{1}"}}));
  EXPECT_TRUE(ch.private_rules[0].read);
  EXPECT_TRUE(ch.private_rules[0].write);
  EXPECT_TRUE(ch.private_rules[1].read);  // actions default to read only
  EXPECT_FALSE(ch.private_rules[1].write);
  EXPECT_EQ(c.gateway.metrics.bearer_token, "scrape-token-0123456789");
  ASSERT_TRUE(c.gateway.metrics.listen.has_value());
  EXPECT_EQ(c.gateway.metrics.listen->second, 9464);
  std::vector<core::config_problem> valid;
  c.auth.jwt_secret = std::string(k_secret);
  validate(c, valid);
  EXPECT_TRUE(valid.empty()) << valid.front().where << ": " << valid.front().message;
}

TEST(GatewayConfig, TheCarefulDefaults) {
  const serve_config c;
  EXPECT_EQ(c.gateway.channels.from_clients, auth::client_broadcasts::off);
  EXPECT_FALSE(c.gateway.channels.private_only);
  EXPECT_TRUE(c.gateway.channels.private_rules.empty());
  EXPECT_EQ(c.gateway.limits.max_connections_per_ip, 256U);
  EXPECT_EQ(c.gateway.limits.client_broadcasts.messages_per_second, 10);
  EXPECT_EQ(c.gateway.limits.client_broadcasts.message_burst, 20);
  EXPECT_EQ(c.gateway.limits.client_broadcasts.bytes_per_second, 64 * 1024);
  EXPECT_EQ(c.gateway.limits.client_broadcasts.byte_burst, 256 * 1024);
  EXPECT_EQ(c.hub.max_idle_channels, 65536U);
  EXPECT_EQ(c.hub.max_views_per_channel, 64U);
  EXPECT_TRUE(c.gateway.metrics.bearer_token.empty());
  EXPECT_FALSE(c.gateway.metrics.listen.has_value());
}

TEST(GatewayConfig, ReportsBadIsolationKeysWithTheirPositions) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"([broadcast]
from_clients = "yes"
[channels]
private_only = "no"
[[channels.private]]
topic = "a:*"
roles = ["admin"]
[[channels.private]]
roles = ["anon"]
[[channels.private]]
topic = "b"
roles = ["anon"]
actions = ["delete"]
[metrics]
listen = "nope"
)",
                   "p.toml", c, problems);
  ASSERT_EQ(problems.size(), 6U);
  EXPECT_EQ(problems[0].where, "p.toml:2:16 broadcast.from_clients");
  EXPECT_EQ(problems[1].where, "p.toml:4:16 channels.private_only");
  EXPECT_EQ(problems[2].where, "p.toml:7:9 channels.private[0].roles");
  EXPECT_EQ(problems[3].where.rfind("p.toml:8:", 0), 0U) << problems[3].where;  // topic is required
  EXPECT_EQ(problems[4].where, "p.toml:13:11 channels.private[2].actions");
  EXPECT_EQ(problems[5].where, "p.toml:15:10 metrics.listen");
}

TEST(GatewayConfig, ValidateRefusesAMalformedRuleAndAShortMetricsToken) {
  serve_config c;
  c.auth.jwt_secret = std::string(k_secret);
  c.gateway.channels.private_rules = {
      {"a::b", {auth::auth_role::anon}, {}, true, false, "x.toml:3:1 channels.private[0]"}};
  c.gateway.metrics.bearer_token = "short";
  std::vector<core::config_problem> problems;
  validate(c, problems);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].where, "channels.private");
  EXPECT_NE(problems[0].message.find("x.toml:3:1"), std::string::npos);
  EXPECT_EQ(problems[1].where, "metrics.bearer_token");
}

TEST(GatewayConfig, EnvironmentSetsTheIsolationSwitches) {
  serve_config c;
  std::vector<core::config_problem> problems;
  apply_env(env_of({{"RTCACHE_MAX_CONNECTIONS_PER_IP", "0"},
                    {"RTCACHE_BROADCAST_FROM_CLIENTS", "all"},
                    {"RTCACHE_PRIVATE_ONLY", "true"},
                    {"RTCACHE_METRICS_TOKEN", "scrape-token-0123456789"},
                    {"RTCACHE_METRICS_LISTEN", "127.0.0.1:9464"}}),
            c, problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.gateway.limits.max_connections_per_ip, 0U);
  EXPECT_EQ(c.gateway.channels.from_clients, auth::client_broadcasts::all);
  EXPECT_TRUE(c.gateway.channels.private_only);
  EXPECT_EQ(c.gateway.metrics.bearer_token, "scrape-token-0123456789");
  EXPECT_TRUE(c.gateway.metrics.listen.has_value());
  apply_env(env_of({{"RTCACHE_BROADCAST_FROM_CLIENTS", "sometimes"}, {"RTCACHE_PRIVATE_ONLY", "maybe"}}), c, problems);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].where, "env RTCACHE_BROADCAST_FROM_CLIENTS");
  EXPECT_EQ(problems[1].where, "env RTCACHE_PRIVATE_ONLY");
}

}  // namespace
}  // namespace rtcache::gateway

namespace rtcache::gateway {
namespace {

// ---- issue 14, item 3: one table of keys drives the file and the environment ----

std::string listed(const std::vector<core::config_problem>& problems) {
  std::string all;
  for (const auto& p : problems) all += p.where + ": " + p.message + "\n";
  return all;
}

TEST(ConfigKeys, EachTypeRefusesWhatItCannotHoldAllAtOnceWithTheirPositions) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"([server]
threads = 1025
log_level = "loud"
[limits]
joins_per_second = 0
join_burst = "many"
max_frame_bytes = 1.5
[channels]
private_only = 1
[metrics]
listen = "127.0.0.1"
bearer_token = 42
[postgres]
slot = true
)",
                   "t.toml", c, problems);
  EXPECT_EQ(listed(problems),
            "t.toml:2:11 server.threads: must be between 0 and 1024, got 1025\n"
            "t.toml:3:13 server.log_level: log level 'loud' is not one of debug, info, warn, error, off\n"
            "t.toml:5:20 limits.joins_per_second: must be between 0.001000 and 1000000.000000\n"
            "t.toml:6:14 limits.join_burst: must be a number\n"
            "t.toml:7:19 limits.max_frame_bytes: must be an integer\n"
            "t.toml:9:16 channels.private_only: must be a boolean\n"
            "t.toml:11:10 metrics.listen: listen '127.0.0.1': expected host:port\n"
            "t.toml:12:16 metrics.bearer_token: must be a string\n"
            "t.toml:14:8 postgres.slot: must be a string\n");
  // Nothing refused was stored.
  const serve_config defaults;
  EXPECT_EQ(c.gateway.threads, defaults.gateway.threads);
  EXPECT_EQ(c.gateway.limits.joins_per_second, defaults.gateway.limits.joins_per_second);
  EXPECT_FALSE(c.gateway.metrics.listen);
  EXPECT_EQ(c.postgres.slot, "rtcache");
}

TEST(ConfigKeys, BoundsAreInclusiveAndEveryTypeStoresItsValue) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"([server]
threads = 1024
[auth]
leeway_seconds = 300
audience = "authenticated"
jwks_ca_file = "ca.pem"
[limits]
joins_per_second = 0.001
max_frame_bytes = 1024
[postgres]
create_slot = false
[tls]
cert_file = "/abs/cert.pem"
key_file = "key.pem"
listen = "[::1]:4443"
)",
                   "b.toml", c, problems, "/etc/rtcache");
  ASSERT_TRUE(problems.empty()) << listed(problems);
  EXPECT_EQ(c.gateway.threads, 1024U);
  EXPECT_EQ(c.auth.leeway, std::chrono::seconds(300));
  EXPECT_EQ(c.auth.audience, "authenticated");
  EXPECT_EQ(c.auth.jwks_ca_file, "/etc/rtcache/ca.pem");  // relative to the file's directory
  EXPECT_EQ(c.gateway.limits.joins_per_second, 0.001);
  EXPECT_EQ(c.gateway.limits.max_frame_bytes, 1024U);
  EXPECT_FALSE(c.postgres.create_slot);
  EXPECT_TRUE(c.postgres.enabled);
  EXPECT_EQ(c.gateway.tls.cert_file, "/abs/cert.pem");
  EXPECT_EQ(c.gateway.tls.key_file, "/etc/rtcache/key.pem");
  EXPECT_EQ(c.gateway.tls.listen, (std::pair<std::string, std::uint16_t>{"::1", 4443}));
}

TEST(ConfigKeys, UnknownKeysAndSectionsNameWhatIsKnown) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml("[limits]\nmax_conections = 5\n[hubb]\n[tls]\ncert = 'x'\n", "u.toml", c, problems);
  ASSERT_EQ(problems.size(), 3U) << listed(problems);
  EXPECT_EQ(problems[0].where, "u.toml:2:18 limits.max_conections");
  EXPECT_EQ(problems[0].message.rfind("unknown key (known: max_connections, max_connections_per_ip, ", 0), 0U)
      << problems[0].message;
  EXPECT_EQ(problems[1].where, "u.toml:3:1 hubb");  // an empty unknown section too
  EXPECT_EQ(problems[1].message.rfind("unknown section (known: server, auth, limits, hub, contract, ", 0), 0U)
      << problems[1].message;
  EXPECT_EQ(problems[2].message, "unknown key (known: cert_file, key_file, listen)");
}

TEST(ConfigKeys, TheEnvironmentOverridesTheFileAndAFailedVariableLeavesTheFilesValue) {
  serve_config c;
  std::vector<core::config_problem> problems;
  read_config_toml(R"([server]
threads = 3
log_level = "warn"
[limits]
max_connections = 50
max_send_queue_bytes = 8192
[metrics]
listen = "127.0.0.1:9000"
)",
                   "e.toml", c, problems);
  ASSERT_TRUE(problems.empty()) << listed(problems);
  apply_env(env_of({{"RTCACHE_THREADS", "5"},
                    {"RTCACHE_LOG_LEVEL", "noisy"},
                    {"RTCACHE_MAX_CONNECTIONS", "0"},
                    {"RTCACHE_MAX_SEND_QUEUE_BYTES", "100"},
                    {"RTCACHE_METRICS_LISTEN", "127.0.0.1:9100"},
                    {"RTCACHE_PRIVATE_ONLY", "1"},
                    {"RTCACHE_JWT_AUDIENCE", "aud"}}),
            c, problems);
  EXPECT_EQ(listed(problems),
            "env RTCACHE_LOG_LEVEL: log level 'noisy' is not one of debug, info, warn, error, off\n"
            "env RTCACHE_MAX_CONNECTIONS: must be between 1 and 10000000, got 0\n"
            "env RTCACHE_MAX_SEND_QUEUE_BYTES: must be between 1024 and 1099511627776, got 100\n");
  EXPECT_EQ(c.gateway.threads, 5U);   // the variable wins
  EXPECT_EQ(c.log, log_level::warn);  // refused: the file's value stays
  EXPECT_EQ(c.gateway.limits.max_connections, 50U);
  EXPECT_EQ(c.gateway.limits.max_send_queue_bytes, 8192U);
  EXPECT_EQ(c.gateway.metrics.listen, (std::pair<std::string, std::uint16_t>{"127.0.0.1", 9100}));
  EXPECT_TRUE(c.gateway.channels.private_only);
  EXPECT_EQ(c.auth.audience, "aud");
}

TEST(ConfigKeys, TheKeyListShowsEveryKeyWithItsDefaultBoundsAndVariable) {
  const std::string md = config_keys_markdown();
  EXPECT_EQ(md.rfind("| key | type | variable | default | meaning |\n| --- | --- | --- | --- | --- |\n", 0), 0U);
  EXPECT_NE(md.find("| `[server] listen` | `\"host:port\"` or `\"off\"` | `RTCACHE_LISTEN` | `\"127.0.0.1:4000\"` |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| `[server] threads` | integer 0...1024 | `RTCACHE_THREADS` | `0` |"), std::string::npos);
  EXPECT_NE(md.find("| `[limits] joins_per_second` | number 0.001...1000000 |  | `10` |"), std::string::npos);
  EXPECT_NE(md.find("| `[hub] linger_ms` | integer 0...86400000 |  | `120000` |"), std::string::npos);
  EXPECT_NE(md.find("| `[auth] audience` | string | `RTCACHE_JWT_AUDIENCE` | none |"), std::string::npos);
  EXPECT_NE(md.find("| `[channels] private_only` | boolean | `RTCACHE_PRIVATE_ONLY` | `false` |"), std::string::npos);
  // One row per key: each key the file reads is listed, and nothing else.
  std::size_t rows = 0;
  for (std::size_t at = md.find("\n| `["); at != std::string::npos; at = md.find("\n| `[", at + 1)) ++rows;
  EXPECT_EQ(rows, 85U);
}

// docs/operations.md's key table is what the table prints: a key added, removed or changed in code without the
// docs (or the other way round) fails here. Refresh with: rtcache config-keys, pasted between the markers.
TEST(ConfigKeys, DocsOperationsHoldsTheKeyTable) {
  std::ifstream in(std::string(RTCACHE_SOURCE_DIR) + "/docs/operations.md", std::ios::binary);
  ASSERT_TRUE(in) << "docs/operations.md";
  const std::string docs{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string begin = "<!-- config-keys: generated by `rtcache config-keys` -->\n";
  const std::string end = "<!-- /config-keys -->";
  const auto from = docs.find(begin);
  const auto to = docs.find(end);
  ASSERT_NE(from, std::string::npos) << "no '" << begin << "' marker in docs/operations.md";
  ASSERT_NE(to, std::string::npos) << "no '" << end << "' marker in docs/operations.md";
  ASSERT_LT(from, to);
  EXPECT_EQ(docs.substr(from + begin.size(), to - from - begin.size()), config_keys_markdown())
      << "docs/operations.md's key table differs from `rtcache config-keys`";
}

// ---- [cluster] (issue 13): the NATS layer's settings from the file and the environment ----

class ClusterConfig : public ::testing::Test {
 protected:
  ClusterConfig() {
    dir_ = std::filesystem::temp_directory_path() /
           ("rtcache-cluster-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    secret_file_ = write("cluster.secret", std::string(k_cluster_secret) + "\n");
  }
  ~ClusterConfig() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }

  // The file, then the environment, then validate(), as load_config does; the file's relative names against dir_.
  config_load load(const std::string& toml, std::map<std::string, std::string> env = {}) {
    env.emplace("RTCACHE_JWT_SECRET", std::string(k_secret));
    return load_config(write("rtcache.toml", toml), env_of(std::move(env)));
  }

  std::string file() const { return (dir_ / "rtcache.toml").string(); }

  static std::string listed(const std::vector<core::config_problem>& problems) {
    std::string out;
    for (const auto& p : problems) out += p.where + ": " + p.message + "\n";
    return out;
  }

  static constexpr std::string_view k_cluster_secret = "cluster-secret-0123456789abcdef-0123456789";
  std::filesystem::path dir_;
  std::string secret_file_;
};

TEST_F(ClusterConfig, TheSectionFillsTheNatsLayersSettings) {
  write("ca.pem", "ca");
  write("nkey.seed", "SU...");
  const auto l = load(R"([cluster]
nats_urls = ["nats://10.0.0.1:4222", "tls://nats-2.internal:4222"]
stream = "factory_events"
node_id = "node-a"
secret_file = "cluster.secret"
max_age_s = 3600
max_bytes = 536870912
duplicate_window_s = 60
replicas = 3
max_channels = 5000
blocking_threads = 4
max_blocking_calls = 64
connect_timeout_ms = 500
nkey = "UABC"
nkey_seed_file = "nkey.seed"
tls_required = true
tls_ca_file = "ca.pem"
tls_expected_hostname = "nats.internal"
)");
  ASSERT_TRUE(l.ok()) << listed(l.problems);
  const auto& c = l.config.cluster;
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.secret, k_cluster_secret) << "one trailing newline is not part of the secret";
  EXPECT_EQ(c.max_channels, 5000u);
  EXPECT_EQ(writer_settings_of(l.config).max_channels, 5000u) << "the writer's partition counters too";
  const auto node = cluster_node_settings_of(l.config);
  EXPECT_EQ(node.max_channels, 5000u);
  EXPECT_EQ(node.blocking_threads, 4u);
  EXPECT_EQ(node.max_blocking_calls, 64u);
  EXPECT_EQ(node.node_id, "node-a");
  EXPECT_EQ(node.secret, k_cluster_secret);
  EXPECT_EQ(node.nats.urls, (std::vector<std::string>{"nats://10.0.0.1:4222", "tls://nats-2.internal:4222"}));
  EXPECT_EQ(node.stream.name, "factory_events");
  const auto nats = nats_settings_of(l.config);
  EXPECT_EQ(nats.urls, (std::vector<std::string>{"nats://10.0.0.1:4222", "tls://nats-2.internal:4222"}));
  EXPECT_EQ(nats.name, "node-a");
  EXPECT_EQ(nats.connect_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(nats.nkey, "UABC");
  EXPECT_EQ(nats.nkey_seed_file, (dir_ / "nkey.seed").string()) << "relative to the config file";
  EXPECT_TRUE(nats.tls.required);
  EXPECT_EQ(nats.tls.ca_file, (dir_ / "ca.pem").string());
  EXPECT_EQ(nats.tls.expected_hostname, "nats.internal");
  const auto stream = stream_settings_of(l.config);
  EXPECT_EQ(stream.name, "factory_events");
  EXPECT_EQ(stream.subjects, (std::vector<std::string>{"factory_events.>"}));
  EXPECT_EQ(stream.max_age, std::chrono::seconds(3600));
  EXPECT_EQ(stream.max_bytes, 536870912);
  EXPECT_EQ(stream.duplicate_window, std::chrono::seconds(60));
  EXPECT_EQ(stream.replicas, 3);
  EXPECT_TRUE(cluster::validate(nats).empty());
  EXPECT_TRUE(cluster::validate(stream).empty());
}

TEST_F(ClusterConfig, DefaultsAreTheNatsLayersAndTheNodeIdIsHostAndPort) {
  const auto l = load("[server]\nlisten = \"0.0.0.0:4100\"\n[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\n",
                      {{"RTCACHE_CLUSTER_SECRET_FILE", secret_file_}});
  ASSERT_TRUE(l.ok()) << listed(l.problems);
  const auto stream = stream_settings_of(l.config);
  EXPECT_EQ(stream.name, "rtcache");
  EXPECT_EQ(stream.subjects, (std::vector<std::string>{"rtcache.>"}));
  EXPECT_EQ(stream.max_age, cluster::stream_settings{}.max_age);
  EXPECT_EQ(stream.max_bytes, cluster::stream_settings{}.max_bytes);
  EXPECT_EQ(stream.duplicate_window, cluster::stream_settings{}.duplicate_window);
  EXPECT_EQ(l.config.cluster.max_channels, cluster::k_default_max_channels);
  EXPECT_EQ(cluster_node_settings_of(l.config).blocking_threads, cluster::k_default_blocking_threads);
  EXPECT_EQ(cluster_node_settings_of(l.config).max_blocking_calls, cluster::k_default_max_blocking_calls);
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(node_id_of(l.config), std::string(host) + ":4100");
  EXPECT_EQ(nats_settings_of(l.config).name, std::string(host) + ":4100");
}

TEST_F(ClusterConfig, TheBlockingCallBoundsComeFromTheVariablesWithinTheirBounds) {
  const std::string section = "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\n";
  const auto l = load(section, {{"RTCACHE_CLUSTER_SECRET_FILE", secret_file_},
                                {"RTCACHE_CLUSTER_BLOCKING_THREADS", "32"},
                                {"RTCACHE_CLUSTER_MAX_BLOCKING_CALLS", "4096"}});
  ASSERT_TRUE(l.ok()) << listed(l.problems);
  EXPECT_EQ(cluster_node_settings_of(l.config).blocking_threads, 32U);
  EXPECT_EQ(cluster_node_settings_of(l.config).max_blocking_calls, 4096U);
  const auto bad = load(section + "blocking_threads = 0\nmax_blocking_calls = 2000000\n",
                        {{"RTCACHE_CLUSTER_SECRET_FILE", secret_file_}});
  EXPECT_EQ(listed(bad.problems), file() + ":3:20 cluster.blocking_threads: must be between 1 and 1024, got 0\n" +
                                      file() +
                                      ":4:22 cluster.max_blocking_calls: must be between 1 and 1000000, got 2000000\n");
}

TEST_F(ClusterConfig, EveryRefusalNamesItsKey) {
  write("cert.pem", "c");
  const auto l = load(R"([cluster]
nats_urls = ["nats://127.0.0.1:4222", "http://127.0.0.1:4222", "nats://nohost"]
stream = "has.dot"
max_age_s = 60
max_bytes = 0
duplicate_window_s = 120
replicas = 0
user = "rt"
tls_cert_file = "cert.pem"
tls_ca_file = "missing-ca.pem"
secret_file = "missing.secret"
colour = "blue"
)");
  EXPECT_EQ(
      listed(l.problems),
      file() + ":7:12 cluster.replicas: must be between 1 and 5, got 0\n" + file() +
          ":11:15 cluster.secret_file: cannot read '" + (dir_ / "missing.secret").string() + "'\n" + file() +
          ":12:10 cluster.colour: unknown key (known: nats_urls, stream, node_id, secret_file, secret, "
          "max_age_s, max_bytes, duplicate_window_s, replicas, max_channels, blocking_threads, max_blocking_calls, "
          "connect_timeout_ms, credentials_file, "
          "nkey, nkey_seed_file, user, password, token, tls_required, tls_ca_file, tls_cert_file, tls_key_file, "
          "tls_expected_hostname)\n"
          "cluster.nats_urls[1]: must start with nats:// or tls://\n"
          "cluster.nats_urls[2]: needs host:port\n"
          "cluster.password: a user needs a password\n"
          "cluster.tls_cert_file: cert_file and key_file go together\n"
          "cluster.stream: 1-57 characters of [A-Za-z0-9_-] (its ingest stream is <stream>_ingest)\n"
          "cluster.max_bytes: must be > 0, or -1 for no limit\n"
          "cluster.duplicate_window_s: must not exceed max_age_s (the server refuses it)\n"
          "cluster.tls_ca_file: cannot read '" +
          (dir_ / "missing-ca.pem").string() +
          "'\n"
          "cluster.secret_file: required with [cluster]: the cluster secret (the same on every node, >= 32 bytes) "
          "in a file named by secret_file / RTCACHE_CLUSTER_SECRET_FILE, or in RTCACHE_CLUSTER_SECRET\n");
}

TEST_F(ClusterConfig, AnEmptyListANegativeAgeAndTheSecretInTheFileAreRefused) {
  const auto l = load("[cluster]\nnats_urls = []\nmax_age_s = -1\nsecret = \"" + std::string(k_cluster_secret) +
                      "\"\nsecret_file = \"cluster.secret\"\n");
  EXPECT_EQ(listed(l.problems),
            file() + ":3:13 cluster.max_age_s: must be between 0 and 315360000, got -1\n" + file() +
                ":4:10 cluster.secret: the cluster secret is not read from the file: give secret_file (a "
                "file holding it) or RTCACHE_CLUSTER_SECRET\n"
                "cluster.nats_urls: at least one URL is required\n");
  EXPECT_EQ(listed(l.problems).find(k_cluster_secret), std::string::npos) << "a problem never quotes the secret";
}

TEST_F(ClusterConfig, AShortSecretIsRefusedWithoutBeingQuoted) {
  const std::string short_secret = "only-31-bytes-of-cluster-secret";
  ASSERT_EQ(short_secret.size(), 31U);
  write("short.secret", short_secret + "\n");
  const std::string toml = "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\nsecret_file = \"short.secret\"\n";
  const auto from_file = load(toml);
  EXPECT_EQ(listed(from_file.problems),
            "cluster.secret_file: 31 bytes; the cluster secret must be at least 32 bytes (epochs derived from a "
            "short key can be guessed)\n");
  const auto from_env = load(toml, {{"RTCACHE_CLUSTER_SECRET", short_secret}});
  EXPECT_EQ(listed(from_env.problems),
            "env RTCACHE_CLUSTER_SECRET: 31 bytes; the cluster secret must be at least 32 bytes (epochs derived "
            "from a short key can be guessed)\n");
  EXPECT_EQ(listed(from_env.problems).find(short_secret), std::string::npos);
  EXPECT_TRUE(load(toml, {{"RTCACHE_CLUSTER_SECRET", short_secret + "!"}}).ok()) << "32 bytes are enough";
}

TEST_F(ClusterConfig, TheEnvironmentOverridesTheFileAndAloneTurnsTheClusterOn) {
  const auto l = load(R"([server]
listen = "127.0.0.1:0"
[cluster]
nats_urls = ["nats://file-host:4222"]
stream = "from_file"
secret_file = "cluster.secret"
max_age_s = 600
)",
                      {{"RTCACHE_CLUSTER_NATS_URLS", "nats://a:4222, nats://b:4222"},
                       {"RTCACHE_CLUSTER_NODE_ID", "node-b"},
                       {"RTCACHE_CLUSTER_SECRET", "another-secret-of-at-least-32-bytes!"},
                       {"RTCACHE_CLUSTER_MAX_AGE_S", "7200"},
                       {"RTCACHE_CLUSTER_USER", "rt"},
                       {"RTCACHE_CLUSTER_PASSWORD", "pw"},
                       {"RTCACHE_CLUSTER_TLS_REQUIRED", "1"}});
  ASSERT_TRUE(l.ok()) << listed(l.problems);
  const auto nats = nats_settings_of(l.config);
  EXPECT_EQ(nats.urls, (std::vector<std::string>{"nats://a:4222", "nats://b:4222"})) << "the variable replaces";
  EXPECT_EQ(nats.name, "node-b");
  EXPECT_EQ(nats.user, "rt");
  EXPECT_EQ(nats.password, "pw");
  EXPECT_TRUE(nats.tls.required);
  EXPECT_EQ(l.config.cluster.secret, "another-secret-of-at-least-32-bytes!") << "the variable wins over secret_file";
  EXPECT_EQ(stream_settings_of(l.config).name, "from_file");
  EXPECT_EQ(stream_settings_of(l.config).max_age, std::chrono::seconds(7200));

  const auto env_only = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                          {"RTCACHE_CLUSTER_NATS_URLS", "nats://127.0.0.1:4222"},
                                                          {"RTCACHE_CLUSTER_SECRET_FILE", secret_file_}}));
  ASSERT_TRUE(env_only.ok()) << listed(env_only.problems);
  EXPECT_TRUE(env_only.config.cluster.enabled);
  EXPECT_EQ(env_only.config.cluster.secret, k_cluster_secret);

  const auto refused = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                         {"RTCACHE_CLUSTER_NATS_URLS", "nats://a:4222,,ftp://b:1"},
                                                         {"RTCACHE_CLUSTER_MAX_BYTES", "-2"},
                                                         {"RTCACHE_CLUSTER_SECRET_FILE", "/nonexistent/secret"}}));
  EXPECT_EQ(listed(refused.problems),
            "env RTCACHE_CLUSTER_NATS_URLS[1]: empty item (two commas, or a comma at an end)\n"
            "env RTCACHE_CLUSTER_SECRET_FILE: cannot read '/nonexistent/secret'\n"
            "env RTCACHE_CLUSTER_MAX_BYTES: must be between -1 and 1125899906842624, got -2\n"
            "cluster.nats_urls[1]: must start with nats:// or tls://\n"
            "cluster.secret_file: required with [cluster]: the cluster secret (the same on every node, >= 32 bytes) "
            "in a file named by secret_file / RTCACHE_CLUSTER_SECRET_FILE, or in RTCACHE_CLUSTER_SECRET\n");
}

TEST_F(ClusterConfig, AnEphemeralPortNeedsANodeIdAndAnEmptyOneIsRefused) {
  const std::string toml =
      "[server]\nlisten = \"127.0.0.1:0\"\n[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\n"
      "secret_file = \"cluster.secret\"\n";
  EXPECT_EQ(listed(load(toml).problems),
            "cluster.node_id: required when the listener's port is 0 (ephemeral): the default, host name and port, "
            "would not tell nodes on one host apart\n");
  EXPECT_TRUE(load(toml, {{"RTCACHE_CLUSTER_NODE_ID", "n1"}}).ok());
  EXPECT_EQ(listed(load(toml, {{"RTCACHE_CLUSTER_NODE_ID", ""}}).problems),
            "cluster.node_id: must not be empty (leave it out for host name and port)\n");
  EXPECT_EQ(listed(load(toml, {{"RTCACHE_CLUSTER_NODE_ID", "a\tb"}}).problems),
            "cluster.node_id: contains control characters\n");
}

TEST_F(ClusterConfig, WithoutTheSectionNothingChangesAndTheMappingSharesTheFile) {
  const auto none = load("[server]\nlisten = \"127.0.0.1:4000\"\n");
  ASSERT_TRUE(none.ok()) << listed(none.problems);
  EXPECT_FALSE(none.config.cluster.enabled);

  const auto with_mapping = load(R"(doc_types = ["wo"]
[cluster]
nats_urls = ["nats://127.0.0.1:4222"]
secret_file = "cluster.secret"
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
)");
  EXPECT_TRUE(with_mapping.ok()) << listed(with_mapping.problems);
  EXPECT_TRUE(with_mapping.config.cluster.enabled);
}

// [postgres] together with [cluster] is served (it was refused until the WAL reader wrote the stream): the node's
// source writes with writer_settings_of, whose window exceeds what the source leaves unconfirmed and whose lookups
// end before the reader's wal_sender_timeout.
TEST_F(ClusterConfig, PostgresTogetherWithClusterIsServedByAWriterSizedForTheSource) {
  const std::string one_table =
      "[tables.\"public.work_orders\"]\ndoc_type = \"wo\"\nid_column = \"id\"\nfactory_column = \"factory_id\"\n";
  const auto pg = load(
      "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\nsecret_file = \"cluster.secret\"\n"
      "stream = \"orders\"\n[postgres]\nmax_unconfirmed_messages = 1000\n" +
          one_table,
      {{"RTCACHE_PG_CONNINFO", "host=/tmp dbname=x"}});
  ASSERT_TRUE(pg.ok()) << listed(pg.problems);
  ASSERT_TRUE(pg.config.postgres.enabled && pg.config.cluster.enabled);
  const cluster::writer_settings w = writer_settings_of(pg.config);
  EXPECT_EQ(w.stream, "orders");
  EXPECT_GT(w.publisher.max_in_flight, pg.config.postgres.max_unconfirmed_messages + 4096)
      << "a batch may overshoot the source's bound by [routing] flush_messages (4096 by default)";
  EXPECT_LT(w.lookup_timeout, pg.config.postgres.wal_sender_timeout);
  EXPECT_EQ(w.first_seq_refresh, std::chrono::milliseconds(100))
      << "no stream-info round trip per transaction (docs/benchmarks.md: p50 868 -> 18 ms at 5,000 changes/s)";
  EXPECT_FALSE(nats_settings_of(pg.config).send_asap)
      << "a flush per message kept two nodes below 5,000 changes/s here (docs/cluster.md, \"Figures\")";

  const auto short_timeout = load(
      "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\nsecret_file = "
      "\"cluster.secret\"\n[postgres]\nwal_sender_timeout_ms = 1500\n" +
          one_table,
      {{"RTCACHE_PG_CONNINFO", "host=/tmp dbname=x"}});
  ASSERT_TRUE(short_timeout.ok()) << listed(short_timeout.problems);
  EXPECT_EQ(writer_settings_of(short_timeout.config).lookup_timeout, std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace rtcache::gateway
