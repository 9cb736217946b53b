// Tests for the event contract and its JSON codec: strict decoding of untrusted input, canonical encoding,
// round trips, and batches that keep every good item when some are bad.
#include "rtcache/core/event_codec.hpp"

#include "rtcache/core/event.hpp"
#include "rtcache/core/identifier.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::core {

// Lets GoogleTest print events in failure messages. Internal linkage: other test files may define their own.
[[maybe_unused]] static void PrintTo(const event& e, std::ostream* os) {
  *os << encode(e);
}

namespace {

// ---- assertion helpers ---------------------------------------------------------------------------------

template <class T>
::testing::AssertionResult refused_any(const result<T>& r, std::initializer_list<errc> codes,
                                       std::initializer_list<std::string_view> needles = {}) {
  if (r.has_value()) {
    auto f = ::testing::AssertionFailure();
    f << "accepted; expected";
    for (errc c : codes) f << ' ' << to_string(c);
    return f;
  }
  const error& err = r.error();
  bool code_ok = false;
  for (errc c : codes) code_ok = code_ok || c == err.code;
  if (!code_ok) {
    auto f = ::testing::AssertionFailure();
    f << "refused with " << to_string(err.code) << " (\"" << err.message << "\"); expected";
    for (errc c : codes) f << ' ' << to_string(c);
    return f;
  }
  for (std::string_view needle : needles) {
    if (err.message.find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << to_string(err.code) << " message \"" << err.message << "\" does not mention \"" << needle << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult refused(const result<T>& r, errc code, std::string_view needle = {}) {
  if (needle.empty()) return refused_any(r, {code});
  return refused_any(r, {code}, {needle});
}

template <class T>
::testing::AssertionResult accepted(const result<T>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused with " << to_string(r.error().code) << ": " << r.error().message;
}

// ---- input builders ------------------------------------------------------------------------------------

// Concatenates by appending: GCC 12 at -O3 flags `"literal" + std::string` with a false -Wrestrict
// (GCC bug 105329), so the builders below avoid operator+ on strings.
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

std::string q(std::string_view s) {
  return cat({"\"", s, "\""});
}

// A JSON object written field by field; names and values are raw JSON text, so tests can write anything.
struct obj {
  std::vector<std::pair<std::string, std::string>> fields;

  obj& set(const std::string& name, std::string raw) {
    for (auto& f : fields) {
      if (f.first == name) {
        f.second = std::move(raw);
        return *this;
      }
    }
    fields.emplace_back(name, std::move(raw));
    return *this;
  }
  obj& add(const std::string& name, std::string raw) {  // appends even when the name is present
    fields.emplace_back(name, std::move(raw));
    return *this;
  }
  obj& erase(const std::string& name) {
    std::erase_if(fields, [&](const auto& f) { return f.first == name; });
    return *this;
  }
  std::string str() const {
    std::string out = "{";
    for (const auto& [name, raw] : fields) {
      if (out.size() > 1) out += ',';
      out.append(q(name)).append(":").append(raw);
    }
    out += '}';
    return out;
  }
};

// {"type":"wo","id":"123","factoryId":"f1","action":"update"}: canonical and minimal.
obj base() {
  return obj{{{"type", q("wo")}, {"id", q("123")}, {"factoryId", q("f1")}, {"action", q("update")}}};
}

obj summary() {
  return base().set("id", q("*")).set("action", q("create")).set("count", "10000");
}

std::string json_string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& s : items) {
    if (out.size() > 1) out += ',';
    out.append(q(s));
  }
  out += ']';
  return out;
}

std::vector<std::string> numbered(std::size_t n, std::string_view prefix = "c") {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(cat({prefix, std::to_string(i)}));
  return out;
}

std::string patch_object(const std::vector<std::string>& columns) {
  std::string out = "{";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ',';
    out.append(q(columns[i])).append(":").append(std::to_string(i));
  }
  out += '}';
  return out;
}

// Nested empty arrays, `levels` deep: "[[[]]]" for 3.
std::string nested_arrays(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

// A canonical minimal event whose "patch":{"note":"x…"} pads it to exactly `bytes` bytes.
std::string canonical_event_of_size(std::size_t bytes) {
  const std::string head = R"({"type":"wo","id":"123","factoryId":"f1","action":"update","patch":{"note":")";
  const std::string tail = R"("}})";
  return cat({head, std::string(bytes - head.size() - tail.size(), 'x'), tail});
}

const doc_type_registry& defaults() {
  static const doc_type_registry reg = doc_type_registry::defaults();
  return reg;
}

result<event> decode(std::string_view json, codec_limits limits = {}) {
  event_decoder dec(defaults(), limits);
  return dec.decode(json);
}

result<std::vector<batch_item>> decode_batch(std::string_view json, codec_limits limits = {}) {
  event_decoder dec(defaults(), limits);
  return dec.decode_batch(json);
}

event minimal_event() {
  event e;
  e.type = "wo";
  e.id = "123";
  e.factory_id = "f1";
  e.act = action::update;
  return e;
}

event full_event() {
  event e = minimal_event();
  e.act = action::approve;
  e.changed_keys = std::vector<std::string>{"status", "amount"};
  e.version = 7;
  e.ts = "2024-05-01T12:34:56.789Z";
  e.patch = std::vector<patch_entry>{{"amount", "42"}, {"status", "\"approved\""}};
  e.offset = 99;
  return e;
}

event summary_event() {
  event e = minimal_event();
  e.id = std::string(k_summary_id);
  e.act = action::del;
  e.ts = "2024-05-01T12:34:56Z";
  e.count = 10000;
  return e;
}

// ==== action ============================================================================================

TEST(Action, ToStringNamesEveryAction) {
  EXPECT_EQ(to_string(action::create), "create");
  EXPECT_EQ(to_string(action::update), "update");
  EXPECT_EQ(to_string(action::del), "delete");
  EXPECT_EQ(to_string(action::approve), "approve");
  EXPECT_EQ(to_string(action::reject), "reject");
}

TEST(Action, ParsesEveryActionName) {
  for (action a : {action::create, action::update, action::del, action::approve, action::reject}) {
    const auto r = parse_action(to_string(a));
    ASSERT_TRUE(accepted(r)) << to_string(a);
    EXPECT_EQ(*r, a);
  }
}

TEST(Action, RefusesUnknownActionNamingIt) {
  EXPECT_TRUE(refused(parse_action("insert"), errc::unknown_action, "insert"));
  for (std::string_view t : {"Create", "UPDATE", "del", "delete ", " delete", "approved", "rejected", "*", "upsert"}) {
    EXPECT_TRUE(refused(parse_action(t), errc::unknown_action)) << "'" << t << "'";
  }
  EXPECT_TRUE(refused(parse_action(std::string_view("create\0", 7)), errc::unknown_action));
}

TEST(Action, RefusesEmptyAction) {
  EXPECT_TRUE(refused_any(parse_action(""), {errc::unknown_action, errc::empty}));
}

// ==== event ==============================================================================================

TEST(Event, DefaultsToUpdateWithEveryOptionalAbsent) {
  const event e;
  EXPECT_EQ(e.act, action::update);
  EXPECT_FALSE(e.changed_keys || e.version || e.ts || e.patch || e.offset || e.count);
}

TEST(Event, IsSummaryOnlyForTheStarId) {
  EXPECT_TRUE(summary_event().is_summary());
  EXPECT_FALSE(minimal_event().is_summary());
  event e = minimal_event();
  e.id = "**";
  EXPECT_FALSE(e.is_summary());
}

TEST(Event, PatchCoversChangesWhenEveryChangedKeyHasAValue) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"status", "amount"};
  e.patch = std::vector<patch_entry>{{"amount", "1"}, {"status", "\"approved\""}};
  EXPECT_TRUE(e.patch_covers_changes());
}

TEST(Event, PatchCoversChangesWithExtraPatchColumns) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"status"};
  e.patch = std::vector<patch_entry>{{"amount", "1"}, {"note", "null"}, {"status", "\"approved\""}};
  EXPECT_TRUE(e.patch_covers_changes());
}

TEST(Event, PatchDoesNotCoverChangesWhenOneChangedKeyIsMissing) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"status", "amount"};
  e.patch = std::vector<patch_entry>{{"status", "\"approved\""}};
  EXPECT_FALSE(e.patch_covers_changes());
}

TEST(Event, PatchDoesNotCoverUnknownChanges) {
  event e = minimal_event();
  e.patch = std::vector<patch_entry>{{"status", "\"approved\""}};
  EXPECT_FALSE(e.patch_covers_changes());  // changedKeys absent: the client must invalidate
}

TEST(Event, AbsentPatchCoversNothing) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"status"};
  EXPECT_FALSE(e.patch_covers_changes());
}

TEST(Event, EmptyChangedKeysOrEmptyPatchCoverNothing) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{};
  e.patch = std::vector<patch_entry>{{"status", "\"approved\""}};
  EXPECT_FALSE(e.patch_covers_changes());
  e.changed_keys = std::vector<std::string>{"status"};
  e.patch = std::vector<patch_entry>{};
  EXPECT_FALSE(e.patch_covers_changes());
  e.changed_keys = std::vector<std::string>{};
  EXPECT_FALSE(e.patch_covers_changes());
}

// ==== encode: canonical text =============================================================================

TEST(EventEncoder, EncodesRequiredFieldsInFixedOrder) {
  EXPECT_EQ(encode(minimal_event()), R"({"type":"wo","id":"123","factoryId":"f1","action":"update"})");
}

TEST(EventEncoder, EncodesEveryFieldInFixedOrder) {
  EXPECT_EQ(encode(full_event()),
            R"({"type":"wo","id":"123","factoryId":"f1","action":"approve","changedKeys":["status","amount"],)"
            R"("version":7,"ts":"2024-05-01T12:34:56.789Z","patch":{"amount":42,"status":"approved"},"offset":99})");
}

TEST(EventEncoder, EncodesSummaryWithCountLast) {
  event e = summary_event();
  e.offset = 5;
  EXPECT_EQ(encode(e), R"({"type":"wo","id":"*","factoryId":"f1","action":"delete","ts":"2024-05-01T12:34:56Z",)"
                       R"("offset":5,"count":10000})");
}

TEST(EventEncoder, EncodesEachActionByItsContractName) {
  event e = minimal_event();
  for (action a : {action::create, action::update, action::del, action::approve, action::reject}) {
    e.act = a;
    EXPECT_EQ(encode(e),
              R"({"type":"wo","id":"123","factoryId":"f1","action":")" + std::string(to_string(a)) + R"("})");
  }
}

TEST(EventEncoder, EncodesEmptyChangedKeysAndEmptyPatchAsPresent) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{};
  e.patch = std::vector<patch_entry>{};
  EXPECT_EQ(encode(e), R"({"type":"wo","id":"123","factoryId":"f1","action":"update","changedKeys":[],"patch":{}})");
}

TEST(EventEncoder, EncodesPatchValuesAsRawJson) {
  event e = minimal_event();
  e.patch = std::vector<patch_entry>{
      {"a", "null"}, {"b", "true"}, {"c", "-1.5e3"}, {"d", R"({"x":[1,"y"]})"}, {"e", R"("q\"uote")"}};
  EXPECT_EQ(encode(e), R"({"type":"wo","id":"123","factoryId":"f1","action":"update",)"
                       R"("patch":{"a":null,"b":true,"c":-1.5e3,"d":{"x":[1,"y"]},"e":"q\"uote"}})");
}

TEST(EventEncoder, EncodesExtremeNumbersExactly) {
  event e = minimal_event();
  e.version = std::numeric_limits<std::int64_t>::max();
  e.offset = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(encode(e), R"({"type":"wo","id":"123","factoryId":"f1","action":"update",)"
                       R"("version":9223372036854775807,"offset":18446744073709551615})");
  e.version = 0;
  e.offset = 0;
  EXPECT_EQ(encode(e), R"({"type":"wo","id":"123","factoryId":"f1","action":"update","version":0,"offset":0})");
}

TEST(EventEncoder, EscapesQuotesBackslashesAndCommonControlCharacters) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"a\"b", "c\\d", "e\nf", "g\th", "i\rj", "k\x01l", "m/n"};
  const std::string s = encode(e);
  for (std::string_view expected :
       {R"("a\"b")", R"("c\\d")", R"("e\nf")", R"("g\th")", R"("i\rj")", R"("k\u0001l")", R"("m/n")"}) {
    EXPECT_NE(s.find(expected), std::string::npos) << "missing " << expected << " in " << s;
  }
}

TEST(EventEncoder, NeverEmitsARawControlByteAndStaysValidJson) {
  std::vector<std::string> keys;
  for (int b = 1; b < 0x20; ++b) keys.push_back(std::string("k") + static_cast<char>(b));
  keys.push_back("\x7f");
  keys.push_back("quote\"back\\slash");
  event e = minimal_event();
  e.changed_keys = keys;
  e.patch = std::vector<patch_entry>{{"we\"ird\n", "1"}};
  const std::string s = encode(e);
  for (char c : s) EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control byte in " << s;

  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(s, ec);
  ASSERT_FALSE(ec) << ec.message() << " in " << s;
  const auto& arr = v.as_object().at("changedKeys").as_array();
  ASSERT_EQ(arr.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(std::string_view(arr[i].as_string()), keys[i]) << "key " << i;
  EXPECT_TRUE(v.as_object().at("patch").as_object().contains("we\"ird\n"));
}

TEST(EventEncoder, KeepsNonAsciiTextAsValidUtf8Json) {
  event e = minimal_event();
  e.changed_keys =
      std::vector<std::string>{"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xe2\x80\xa8", "\xf0\x9f\x98\x80"};
  const std::string s = encode(e);
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(s, ec);
  ASSERT_FALSE(ec) << ec.message() << " in " << s;
  const auto& arr = v.as_object().at("changedKeys").as_array();
  ASSERT_EQ(arr.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(std::string_view(arr[i].as_string()), (*e.changed_keys)[i]) << "key " << i;
}

TEST(EventEncoder, EncodeToAppendsToTheBuffer) {
  std::string out = "[";
  encode_to(out, minimal_event());
  out += ',';
  encode_to(out, summary_event());
  out += ']';
  EXPECT_EQ(out, "[" + encode(minimal_event()) + "," + encode(summary_event()) + "]");
}

// ==== decode: success ====================================================================================

TEST(EventDecoder, DecodesMinimalEventWithEveryOptionalAbsent) {
  const auto r = decode(base().str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, minimal_event());
}

TEST(EventDecoder, DecodesEveryField) {
  const auto r = decode(base()
                            .set("action", q("approve"))
                            .set("changedKeys", R"(["status","amount"])")
                            .set("version", "7")
                            .set("ts", q("2024-05-01T12:34:56.789Z"))
                            .set("patch", R"({"amount":42,"status":"approved"})")
                            .set("offset", "99")
                            .str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, full_event());
}

TEST(EventDecoder, DecodesSummaryWithCount) {
  const auto r = decode(summary().str());
  ASSERT_TRUE(accepted(r));
  EXPECT_TRUE(r->is_summary());
  EXPECT_EQ(r->act, action::create);
  EXPECT_EQ(r->count, std::optional<std::uint64_t>(10000));
}

TEST(EventDecoder, DecodesEveryAction) {
  for (action a : {action::create, action::update, action::del, action::approve, action::reject}) {
    const auto r = decode(base().set("action", q(to_string(a))).str());
    ASSERT_TRUE(accepted(r)) << to_string(a);
    EXPECT_EQ(r->act, a);
  }
}

TEST(EventDecoder, AcceptsFieldsInAnyOrderAndInsignificantWhitespace) {
  const auto r = decode(
      " \n\t{ \"version\" : 7 ,\r\n \"action\":\"approve\", \"ts\": \"2024-05-01T12:34:56.789Z\","
      " \"offset\" : 99, \"factoryId\" :\"f1\", \"patch\" : { \"status\" : \"approved\" , "
      "\"amount\" : 42 } , \"changedKeys\" : [ \"status\" , \"amount\" ], \"id\":\"123\","
      " \"type\":\"wo\" } \n ");
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, full_event());
}

TEST(EventDecoder, UnescapesStringsBeforeUse) {
  const auto r = decode(base().set("id", R"("\u0031\u0032\u0033")").set("type", R"("\u0077o")").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, minimal_event());
}

TEST(EventDecoder, SortsPatchByColumn) {
  const auto r = decode(base().set("patch", R"({"status":"approved","amount":42,"b":1,"a":null})").str());
  ASSERT_TRUE(accepted(r));
  const std::vector<patch_entry> expected{{"a", "null"}, {"amount", "42"}, {"b", "1"}, {"status", "\"approved\""}};
  EXPECT_EQ(r->patch, expected);
}

TEST(EventDecoder, MinifiesPatchValuesButNotTheirStrings) {
  const auto r = decode(base()
                            .set("patch",
                                 "{ \"lines\" : [ 1 , 2 , { \"qty\" : 3 } ] , \"meta\" :\n{ \"a\" : true ,"
                                 " \"b\" : null } , \"note\" : \"two  spaces , colon : here\" }")
                            .str());
  ASSERT_TRUE(accepted(r));
  const std::vector<patch_entry> expected{
      {"lines", R"([1,2,{"qty":3}])"}, {"meta", R"({"a":true,"b":null})"}, {"note", R"("two  spaces , colon : here")"}};
  EXPECT_EQ(r->patch, expected);
}

TEST(EventDecoder, KeepsChangedKeysInTheirOrder) {
  const auto r = decode(base().set("changedKeys", R"(["status","amount","a"])").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->changed_keys, (std::vector<std::string>{"status", "amount", "a"}));
}

TEST(EventDecoder, AcceptsEmptyChangedKeysAndEmptyPatch) {
  const auto r = decode(base().set("changedKeys", "[]").set("patch", "{}").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->changed_keys, std::vector<std::string>{});
  EXPECT_EQ(r->patch, std::vector<patch_entry>{});
}

TEST(EventDecoder, AcceptsVersionZeroAndInt64Max) {
  auto r = decode(base().set("version", "0").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->version, std::optional<std::int64_t>(0));
  r = decode(base().set("version", "9223372036854775807").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->version, std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
}

TEST(EventDecoder, AcceptsOffsetZeroAndUint64Max) {
  auto r = decode(base().set("offset", "0").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->offset, std::optional<std::uint64_t>(0));
  r = decode(base().set("offset", "18446744073709551615").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->offset, std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
}

TEST(EventDecoder, AcceptsRfc3339Timestamps) {
  for (std::string_view ts :
       {"2024-05-01T12:34:56Z", "2024-05-01T12:34:56.789Z", "2024-05-01T12:34:56+02:00",
        "2024-05-01T12:34:56.123456-07:30", "2024-02-29T00:00:00Z", "1999-12-31T23:59:59.999999999+00:00"}) {
    const auto r = decode(base().set("ts", q(ts)).str());
    ASSERT_TRUE(accepted(r)) << ts;
    EXPECT_EQ(r->ts, std::optional<std::string>(std::string(ts)));
  }
}

TEST(EventDecoder, AcceptsTimestampOfExactlyMaxLength) {
  const std::string ts = "2024-05-01T12:34:56." + std::string(14, '1') + "+02:00";
  ASSERT_EQ(ts.size(), codec_limits{}.max_ts_length);
  EXPECT_TRUE(accepted(decode(base().set("ts", q(ts)).str())));
}

TEST(EventDecoder, AcceptsIdsOfExactlyMaxLength) {
  const std::string id(k_max_id_length, 'a');
  const auto r = decode(base().set("id", q(id)).set("factoryId", q(id)).str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->id, id);
  EXPECT_EQ(r->factory_id, id);
}

TEST(EventDecoder, AcceptsRegisteredTypeOfExactlyMaxLength) {
  const std::string type = "t" + std::string(k_max_doc_type_length - 1, 'z');
  event_decoder dec(doc_type_registry::from({"wo", type}).value());
  const auto r = dec.decode(base().set("type", q(type)).str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->type, type);
}

TEST(EventDecoder, AcceptsExactlyMaxChangedKeys) {
  const auto keys = numbered(codec_limits{}.max_changed_keys);
  const auto r = decode(base().set("changedKeys", json_string_array(keys)).str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->changed_keys, keys);
}

TEST(EventDecoder, AcceptsExactlyMaxPatchEntries) {
  const auto r = decode(base().set("patch", patch_object(numbered(codec_limits{}.max_patch_entries))).str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->patch->size(), codec_limits{}.max_patch_entries);
}

TEST(EventDecoder, AcceptsColumnNamesOfExactlyMaxLength) {
  const std::string col(codec_limits{}.max_column_length, 'c');
  ASSERT_EQ(col.size(), 63u);
  const auto r = decode(base().set("changedKeys", json_string_array({col})).set("patch", patch_object({col})).str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->patch, (std::vector<patch_entry>{{col, "0"}}));
}

TEST(EventDecoder, AcceptsEventOfExactlyMaxEventBytes) {
  const std::string json = canonical_event_of_size(codec_limits{}.max_event_bytes);
  ASSERT_EQ(json.size(), 65536u);
  const auto r = decode(json);
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(encode(*r), json);
}

TEST(EventDecoder, AcceptsNestingOfExactlyMaxDepth) {
  // Depth counts containers: the event object is 1, patch is 2, so the value adds max_depth - 2 arrays.
  const std::string value = nested_arrays(codec_limits{}.max_depth - 2);
  const auto r = decode(base().set("patch", "{\"deep\":" + value + "}").str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->patch, (std::vector<patch_entry>{{"deep", value}}));
}

TEST(EventDecoder, DecodesOnlyTheGivenBytes) {
  const std::string json = base().str();
  const std::string buf = json + R"(,"junk":1})";
  EXPECT_TRUE(accepted(decode(std::string_view(buf).substr(0, json.size()))));
}

TEST(EventDecoder, ReadsNoByteBeyondTheInput) {
  // An unpadded heap buffer of exactly the input's size: AddressSanitizer catches any read past it.
  const std::string json = base().set("patch", R"({"note":"tail"})").str();
  const auto mem = std::make_unique<char[]>(json.size());
  std::memcpy(mem.get(), json.data(), json.size());
  EXPECT_TRUE(accepted(decode(std::string_view(mem.get(), json.size()))));
  EXPECT_TRUE(refused(decode(std::string_view(mem.get(), json.size() - 1)), errc::bad_json));
}

TEST(EventDecoder, KeepsWorkingAfterARefusal) {
  event_decoder dec(defaults());
  EXPECT_TRUE(refused(dec.decode("{"), errc::bad_json));
  EXPECT_TRUE(refused(dec.decode(base().set("action", q("insert")).str()), errc::unknown_action));
  const auto r = dec.decode(base().str());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, minimal_event());
  const auto b = dec.decode_batch("[" + base().str() + "]");
  ASSERT_TRUE(accepted(b));
  EXPECT_EQ(b->size(), 1u);
}

TEST(EventDecoder, IsMovable) {
  event_decoder a(defaults());
  event_decoder b(std::move(a));
  ASSERT_TRUE(accepted(b.decode(base().str())));
  event_decoder c(doc_type_registry::from({"ticket"}).value());
  c = std::move(b);
  EXPECT_TRUE(accepted(c.decode(base().str())));  // c now holds b's registry, which has "wo"
}

TEST(EventDecoder, ReportsItsLimits) {
  const event_decoder d(defaults());
  EXPECT_EQ(d.limits().max_event_bytes, 64u * 1024u);
  EXPECT_EQ(d.limits().max_batch_bytes, std::size_t{4} << 20);
  EXPECT_EQ(d.limits().max_batch_items, 1000u);
  EXPECT_EQ(d.limits().max_changed_keys, 256u);
  EXPECT_EQ(d.limits().max_patch_entries, 256u);
  EXPECT_EQ(d.limits().max_column_length, 63u);
  EXPECT_EQ(d.limits().max_ts_length, 40u);
  EXPECT_EQ(d.limits().max_depth, 32u);
  codec_limits custom;
  custom.max_changed_keys = 3;
  const event_decoder e(defaults(), custom);
  EXPECT_EQ(e.limits().max_changed_keys, 3u);
}

// ==== decode: malformed documents ========================================================================

TEST(EventDecoder, RefusesEmptyInput) {
  EXPECT_TRUE(refused(decode(""), errc::empty));
  EXPECT_TRUE(refused_any(decode(" \n\t "), {errc::empty, errc::bad_json}));
}

TEST(EventDecoder, RefusesMalformedJson) {
  for (std::string_view j : {"{", "}", "{\"type\":}", "{\"type\":\"wo\",}", "{'type':'wo'}", "{type:\"wo\"}",
                             "{\"type\":\"wo\"", "{\"type\" \"wo\"}", "{\"version\":NaN}", "{\"version\":01}",
                             "{\"version\":+1}", "{/*c*/}", "nul", "{\"a\":\"\\x41\"}", "{\"a\":\"\\u12\"}"}) {
    EXPECT_TRUE(refused(decode(j), errc::bad_json)) << j;
  }
}

TEST(EventDecoder, RefusesTrailingContentAfterTheObject) {
  const std::string json = base().str();
  EXPECT_TRUE(refused(decode(json + json), errc::bad_json));
  EXPECT_TRUE(refused(decode(json + " x"), errc::bad_json));
  EXPECT_TRUE(refused(decode(json + ","), errc::bad_json));
  EXPECT_TRUE(refused(decode(std::string(json) + std::string(1, '\0')), errc::bad_json));
}

TEST(EventDecoder, RefusesInvalidUtf8) {
  EXPECT_TRUE(refused(decode(base().set("patch", "{\"note\":\"\xff\"}").str()), errc::bad_json));
  EXPECT_TRUE(refused(decode(base().set("patch", "{\"note\":\"\xc3\"}").str()), errc::bad_json));
  EXPECT_TRUE(refused(decode(base().set("patch", "{\"note\":\"\xed\xa0\x80\"}").str()), errc::bad_json));  // surrogate
}

TEST(EventDecoder, RefusesRawControlCharacterInsideAString) {
  // JSON requires control characters in strings to be escaped; passing one through would make encode emit
  // invalid JSON.
  EXPECT_TRUE(refused(decode(base().set("patch", "{\"note\":\"a\nb\"}").str()), errc::bad_json));
  EXPECT_TRUE(refused(decode(base()
                                 .set("patch",
                                      "{\"note\":\"a\x01"
                                      "b\"}")
                                 .str()),
                      errc::bad_json));
}

TEST(EventDecoder, RefusesDeepGarbageWithoutCrashing) {
  EXPECT_TRUE(refused(decode(std::string(60000, '[')), errc::bad_json));
  EXPECT_TRUE(refused(decode(std::string(30000, '{')), errc::bad_json));
}

TEST(EventDecoder, RefusesNonObjectDocuments) {
  for (std::string_view j : {"[]", "[{\"type\":\"wo\"}]", "42", "\"wo\"", "null", "true", "-1.5"}) {
    EXPECT_TRUE(refused(decode(j), errc::not_object)) << j;
  }
}

TEST(EventDecoder, RefusesNestingOneOverMaxDepth) {
  const std::string value = nested_arrays(codec_limits{}.max_depth - 1);
  EXPECT_TRUE(refused(decode(base().set("patch", "{\"deep\":" + value + "}").str()), errc::bad_json));
}

// ==== decode: fields =====================================================================================

TEST(EventDecoder, RefusesMissingRequiredFieldNamingIt) {
  for (const std::string field : {"type", "id", "factoryId", "action"}) {
    EXPECT_TRUE(refused(decode(base().erase(field).str()), errc::missing_field, field)) << field;
  }
  EXPECT_TRUE(refused(decode("{}"), errc::missing_field));
}

TEST(EventDecoder, RefusesUnknownFieldNamingIt) {
  EXPECT_TRUE(refused(decode(base().set("extra", "1").str()), errc::unknown_field, "extra"));
  EXPECT_TRUE(refused(decode(base().set("old", "{\"status\":\"draft\"}").str()), errc::unknown_field, "old"));
  EXPECT_TRUE(refused(decode(base().set("", "1").str()), errc::unknown_field));
}

TEST(EventDecoder, RefusesSnakeCaseFactoryIdAsUnknownField) {
  EXPECT_TRUE(refused(decode(base().set("factory_id", q("f1")).str()), errc::unknown_field, "factory_id"));
  EXPECT_TRUE(refused(decode(base().set("changed_keys", "[]").str()), errc::unknown_field, "changed_keys"));
}

TEST(EventDecoder, RefusesDuplicateTopLevelKeyNamingIt) {
  EXPECT_TRUE(refused(decode(base().add("type", q("wo")).str()), errc::duplicate_key, "type"));
  EXPECT_TRUE(refused(decode(base().add("action", q("delete")).str()), errc::duplicate_key, "action"));
  EXPECT_TRUE(refused(decode(base().set("version", "1").add("version", "2").str()), errc::duplicate_key, "version"));
  EXPECT_TRUE(refused(decode(base().set("patch", "{}").add("patch", "{}").str()), errc::duplicate_key, "patch"));
}

TEST(EventDecoder, RefusesDuplicateKeyHiddenByAnEscape) {
  // "ty\u0070e" is "type": accepting both would let two parsers disagree on the event's type.
  EXPECT_TRUE(
      refused_any(decode(base().add(R"(ty\u0070e)", q("pl")).str()), {errc::duplicate_key, errc::unknown_field}));
}

TEST(EventDecoder, RefusesWrongTypeForEveryFieldNamingIt) {
  struct bad {
    std::string field;
    std::string raw;
  };
  const std::vector<bad> cases{
      {"type", "1"},
      {"type", "true"},
      {"type", "null"},
      {"type", R"(["wo"])"},
      {"type", R"({"t":1})"},
      {"id", "123"},
      {"id", "null"},
      {"id", R"(["1"])"},
      {"id", "1.5"},
      {"factoryId", "7"},
      {"factoryId", "false"},
      {"factoryId", "{}"},
      {"action", "1"},
      {"action", "null"},
      {"action", R"(["update"])"},
      {"changedKeys", q("status")},
      {"changedKeys", R"({"status":true})"},
      {"changedKeys", "1"},
      {"changedKeys", "true"},
      {"version", q("5")},
      {"version", "true"},
      {"version", "[5]"},
      {"version", R"({"v":5})"},
      {"ts", "1714566896"},
      {"ts", "true"},
      {"ts", R"(["2024-05-01T12:34:56Z"])"},
      {"patch", "[]"},
      {"patch", q("x")},
      {"patch", "1"},
      {"patch", "true"},
      {"patch", R"([["a",1]])"},
      {"offset", q("1")},
      {"offset", "true"},
      {"offset", "[]"},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(refused(decode(base().set(c.field, c.raw).str()), errc::wrong_type, c.field))
        << c.field << ": " << c.raw;
  }
  for (const std::string& raw : {q("10"), std::string("[]"), std::string("true")}) {
    EXPECT_TRUE(refused(decode(summary().set("count", raw).str()), errc::wrong_type, "count")) << raw;
  }
}

TEST(EventDecoder, RefusesWrongTypeOfChangedKeysItemNamingTheField) {
  for (std::string_view raw : {"[1]", R"(["a",null])", R"([["a"]])", R"([{"a":1}])", R"(["a",true])"}) {
    EXPECT_TRUE(refused(decode(base().set("changedKeys", std::string(raw)).str()), errc::wrong_type, "changedKeys"))
        << raw;
  }
}

TEST(EventDecoder, RefusesNullForOptionalFields) {
  // Absent means absent; null is not a value any optional field can take.
  for (const std::string field : {"changedKeys", "version", "ts", "patch", "offset"}) {
    EXPECT_TRUE(refused(decode(base().set(field, "null").str()), errc::wrong_type, field)) << field;
  }
  EXPECT_TRUE(refused(decode(summary().set("count", "null").str()), errc::wrong_type, "count"));
}

TEST(EventDecoder, RefusesUnknownActionNamingTheField) {
  for (std::string_view a : {"insert", "Update", "DELETE", "del", "approved", "", "upsert"}) {
    EXPECT_TRUE(refused(decode(base().set("action", q(a)).str()), errc::unknown_action, "action")) << a;
  }
}

TEST(EventDecoder, RefusesUnregisteredTypeNamingIt) {
  EXPECT_TRUE(refused(decode(base().set("type", q("ticket")).str()), errc::unknown_doc_type, "ticket"));
  event_decoder dec(doc_type_registry::from({"ticket"}).value());
  EXPECT_TRUE(refused(dec.decode(base().str()), errc::unknown_doc_type, "wo"));
}

TEST(EventDecoder, RefusesTypeOutsideTheNameGrammar) {
  for (std::string_view t : {"WO", "w o", "w*", "1wo", "caf\xc3\xa9"}) {
    EXPECT_TRUE(refused_any(decode(base().set("type", q(t)).str()), {errc::unknown_doc_type, errc::bad_char}, {"type"}))
        << t;
  }
  EXPECT_TRUE(refused_any(decode(base().set("type", q("")).str()), {errc::unknown_doc_type, errc::empty}, {"type"}));
}

TEST(EventDecoder, RefusesTypeOneOverMaxLength) {
  const std::string type = "t" + std::string(k_max_doc_type_length, 'z');  // 33: never registrable
  EXPECT_TRUE(
      refused_any(decode(base().set("type", q(type)).str()), {errc::too_long, errc::unknown_doc_type}, {"type"}));
}

TEST(EventDecoder, RefusesIdOneOverMaxLengthNamingIt) {
  const std::string id(k_max_id_length + 1, 'a');
  EXPECT_TRUE(refused(decode(base().set("id", q(id)).str()), errc::too_long, "id"));
  EXPECT_TRUE(refused(decode(base().set("factoryId", q(id)).str()), errc::too_long, "factoryId"));
}

TEST(EventDecoder, RefusesEmptyIdNamingIt) {
  EXPECT_TRUE(refused(decode(base().set("id", q("")).str()), errc::empty, "id"));
  EXPECT_TRUE(refused(decode(base().set("factoryId", q("")).str()), errc::empty, "factoryId"));
}

TEST(EventDecoder, RefusesIdsOutsideTheIdGrammarNamingTheField) {
  for (std::string_view raw :
       {R"("wo:123")", R"("12*")", R"("**")", R"("1 2")", R"(" 1")", R"("1\t")", R"("1\n")", "\"caf\xc3\xa9\"",
        R"("caf\u00e9")", R"("a\u0020b")", R"("a\u0000b")", R"("a\"b")", R"("a/b")"}) {
    EXPECT_TRUE(refused(decode(base().set("id", std::string(raw)).str()), errc::bad_char, "id")) << raw;
    EXPECT_TRUE(refused(decode(base().set("factoryId", std::string(raw)).str()), errc::bad_char, "factoryId")) << raw;
  }
}

TEST(EventDecoder, RefusesSummaryStarAsFactoryId) {
  EXPECT_TRUE(refused(decode(base().set("factoryId", q("*")).str()), errc::bad_char, "factoryId"));
  EXPECT_TRUE(refused(decode(summary().set("factoryId", q("*")).str()), errc::bad_char, "factoryId"));
}

TEST(EventDecoder, RefusesNegativeVersion) {
  EXPECT_TRUE(refused(decode(base().set("version", "-1").str()), errc::bad_value, "version"));
  EXPECT_TRUE(refused(decode(base().set("version", "-9223372036854775808").str()), errc::bad_value, "version"));
}

TEST(EventDecoder, RefusesNonIntegerVersion) {
  // 5.5 has the right JSON type (number) and an invalid value: errc says bad_value ("right type, invalid value
  // (negative version, ...)"), and the decoder header lists "negative or non-integer versions" together.
  EXPECT_TRUE(refused(decode(base().set("version", "5.5").str()), errc::bad_value, "version"));
  EXPECT_TRUE(refused(decode(base().set("version", "1e-3").str()), errc::bad_value, "version"));
}

TEST(EventDecoder, RefusesVersionAboveInt64Max) {
  EXPECT_TRUE(refused(decode(base().set("version", "9223372036854775808").str()), errc::bad_value, "version"));
  EXPECT_TRUE(refused(decode(base().set("version", "18446744073709551615").str()), errc::bad_value, "version"));
}

TEST(EventDecoder, RefusesVersionBeyondAnyIntegerType) {
  EXPECT_TRUE(refused_any(decode(base().set("version", "123456789012345678901234567890").str()),
                          {errc::bad_value, errc::bad_json}));
}

TEST(EventDecoder, RefusesNegativeOffset) {
  EXPECT_TRUE(refused(decode(base().set("offset", "-1").str()), errc::bad_value, "offset"));
}

TEST(EventDecoder, RefusesNonIntegerOffset) {
  // As for version: a number of the right JSON type with an invalid value is bad_value, not wrong_type.
  EXPECT_TRUE(refused(decode(base().set("offset", "1.5").str()), errc::bad_value, "offset"));
}

TEST(EventDecoder, RefusesOffsetBeyondUint64) {
  EXPECT_TRUE(
      refused_any(decode(base().set("offset", "18446744073709551616").str()), {errc::bad_value, errc::bad_json}));
}

TEST(EventDecoder, RefusesNegativeCount) {
  EXPECT_TRUE(refused(decode(summary().set("count", "-1").str()), errc::bad_value, "count"));
}

TEST(EventDecoder, RefusesNonIntegerCount) {
  EXPECT_TRUE(refused(decode(summary().set("count", "2.5").str()), errc::bad_value, "count"));
}

TEST(EventDecoder, RefusesCountWithoutSummaryIdNamingIt) {
  EXPECT_TRUE(refused_any(decode(base().set("count", "3").str()), {errc::bad_value, errc::unknown_field}, {"count"}));
  EXPECT_TRUE(
      refused_any(decode(summary().set("id", q("123")).str()), {errc::bad_value, errc::unknown_field}, {"count"}));
}

TEST(EventDecoder, RefusesMalformedTimestampNamingTs) {
  for (std::string_view ts :
       {"yesterday", "2024-05-01", "2024-05-01T12:34:56", "2024-05-01T12:34Z", "2024/05/01T12:34:56Z",
        "2024-05-01T12:34:56.Z", "2024-05-01T12:34:56+0200", "2024-05-01T12:34:56+02", "24-05-01T12:34:56Z",
        "2024-5-1T12:34:56Z", "2024-05-01T12:34:56Zjunk", " 2024-05-01T12:34:56Z", "2024-05-01T1a:34:56Z", "1714566896",
        "2024-05-01T12:34:56ZZ", "T12:34:56Z"}) {
    EXPECT_TRUE(refused(decode(base().set("ts", q(ts)).str()), errc::bad_value, "ts")) << ts;
  }
  EXPECT_TRUE(refused_any(decode(base().set("ts", q("")).str()), {errc::bad_value, errc::empty}, {"ts"}));
}

TEST(EventDecoder, RefusesTimestampWithOutOfRangeFields) {
  for (std::string_view ts :
       {"2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-05-32T00:00:00Z", "2024-05-00T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:34:61Z", "2024-05-01T12:34:56+24:00"}) {
    EXPECT_TRUE(refused(decode(base().set("ts", q(ts)).str()), errc::bad_value, "ts")) << ts;
  }
}

TEST(EventDecoder, RefusesTimestampOneOverMaxLength) {
  const std::string ts = "2024-05-01T12:34:56." + std::string(15, '1') + "+02:00";
  ASSERT_EQ(ts.size(), codec_limits{}.max_ts_length + 1);
  EXPECT_TRUE(refused_any(decode(base().set("ts", q(ts)).str()), {errc::too_long}, {"ts", "40"}));
}

TEST(EventDecoder, RefusesOneOverMaxChangedKeysNamingFieldAndBound) {
  const auto keys = numbered(codec_limits{}.max_changed_keys + 1);
  const auto r = decode(base().set("changedKeys", json_string_array(keys)).str());
  EXPECT_TRUE(refused_any(r, {errc::too_many}, {"changedKeys", "256"}));
}

TEST(EventDecoder, RefusesRepeatedChangedKey) {
  EXPECT_TRUE(refused(decode(base().set("changedKeys", R"(["status","amount","status"])").str()), errc::duplicate_key,
                      "changedKeys"));
}

TEST(EventDecoder, RefusesChangedKeyOneOverMaxColumnLength) {
  const std::string col(codec_limits{}.max_column_length + 1, 'c');
  EXPECT_TRUE(
      refused(decode(base().set("changedKeys", json_string_array({"a", col})).str()), errc::too_long, "changedKeys"));
}

TEST(EventDecoder, RefusesOneOverMaxPatchEntriesNamingFieldAndBound) {
  const auto r = decode(base().set("patch", patch_object(numbered(codec_limits{}.max_patch_entries + 1))).str());
  EXPECT_TRUE(refused_any(r, {errc::too_many}, {"patch", "256"}));
}

TEST(EventDecoder, RefusesDuplicatePatchColumnNamingIt) {
  EXPECT_TRUE(refused_any(decode(base().set("patch", R"({"amount":1,"status":"x","amount":2})").str()),
                          {errc::duplicate_key}, {"patch", "amount"}));
}

TEST(EventDecoder, RefusesDuplicatePatchColumnHiddenByAnEscape) {
  // "\u0061mount" is "amount": two values for one column.
  EXPECT_TRUE(
      refused(decode(base().set("patch", R"({"amount":1,"\u0061mount":2})").str()), errc::duplicate_key, "patch"));
}

TEST(EventDecoder, RefusesPatchColumnOneOverMaxColumnLength) {
  const std::string col(codec_limits{}.max_column_length + 1, 'c');
  EXPECT_TRUE(refused(decode(base().set("patch", patch_object({"a", col})).str()), errc::too_long, "patch"));
}

TEST(EventDecoder, RefusesEventOneOverMaxEventBytes) {
  const std::string json = canonical_event_of_size(codec_limits{}.max_event_bytes + 1);
  ASSERT_EQ(json.size(), 65537u);
  EXPECT_TRUE(refused(decode(json), errc::too_long, "65536"));
}

TEST(EventDecoder, RefusesHugeInputAsTooLongBeforeParsing) {
  EXPECT_TRUE(refused(decode(std::string(1 << 20, '{')), errc::too_long));
}

TEST(EventDecoder, RefusesSummaryWithoutCount) {
  // A summary stands for `count` rows ({type, id:"*", factoryId, action, count, ts}); without it, it says nothing.
  EXPECT_TRUE(refused(decode(summary().erase("count").str()), errc::missing_field, "count"));
}

TEST(EventDecoder, RefusesEmptyColumnNameNamingTheField) {
  EXPECT_TRUE(refused(decode(base().set("changedKeys", R"(["a",""])").str()), errc::empty, "changedKeys"));
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"":1})").str()), errc::empty, "patch"));
}

TEST(EventDecoder, RefusesControlCharacterInColumnNameNamingTheField) {
  // Escaped in the JSON, so well-formed; a column name still cannot hold a control byte.
  for (std::string_view col : {R"("new\nline")", R"("a\u0001")", R"("a\u0000")", R"("a\u007f")"}) {
    EXPECT_TRUE(refused(decode(base().set("changedKeys", cat({"[", col, "]"})).str()), errc::bad_char, "changedKeys"))
        << col;
    EXPECT_TRUE(refused(decode(base().set("patch", cat({"{", col, ":1}"})).str()), errc::bad_char, "patch")) << col;
  }
}

TEST(EventDecoder, RefusesTimestampWithImpossibleDayOfMonth) {
  // RFC 3339 5.7: the day must exist in that month and year.
  for (std::string_view ts :
       {"2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2100-02-29T00:00:00Z"}) {
    EXPECT_TRUE(refused(decode(base().set("ts", q(ts)).str()), errc::bad_value, "ts")) << ts;
  }
  EXPECT_TRUE(accepted(decode(base().set("ts", q("2000-02-29T00:00:00Z")).str())));
}

TEST(EventDecoder, KeepsTheDepthBoundWhenTheInputOutgrowsTheParsersFirstBuffer) {
  // A large document makes the parser grow its buffers; the configured depth must survive that.
  const std::string pad(20000, 'p');
  const auto deep = [&](std::size_t arrays) {
    return base().set("patch", cat({R"({"a":")", pad, R"(","deep":)", nested_arrays(arrays), "}"})).str();
  };
  EXPECT_TRUE(refused(decode(deep(codec_limits{}.max_depth - 1)), errc::bad_json));
  EXPECT_TRUE(accepted(decode(deep(codec_limits{}.max_depth - 2))));
}

// ==== decode: configured limits ==========================================================================

TEST(EventDecoder, HonoursConfiguredChangedKeysAndPatchBounds) {
  codec_limits lim;
  lim.max_changed_keys = 2;
  lim.max_patch_entries = 1;
  lim.max_column_length = 3;
  EXPECT_TRUE(accepted(decode(base().set("changedKeys", R"(["a","b"])").str(), lim)));
  EXPECT_TRUE(refused(decode(base().set("changedKeys", R"(["a","b","c"])").str(), lim), errc::too_many));
  EXPECT_TRUE(accepted(decode(base().set("patch", R"({"a":1})").str(), lim)));
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"a":1,"b":2})").str(), lim), errc::too_many));
  EXPECT_TRUE(accepted(decode(base().set("changedKeys", R"(["abc"])").str(), lim)));
  EXPECT_TRUE(refused(decode(base().set("changedKeys", R"(["abcd"])").str(), lim), errc::too_long));
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"abcd":1})").str(), lim), errc::too_long));
}

TEST(EventDecoder, HonoursConfiguredTsLengthAndEventBytes) {
  codec_limits lim;
  lim.max_ts_length = 20;
  EXPECT_TRUE(accepted(decode(base().set("ts", q("2024-05-01T12:34:56Z")).str(), lim)));
  EXPECT_TRUE(refused(decode(base().set("ts", q("2024-05-01T12:34:56.7Z")).str(), lim), errc::too_long));
  lim = codec_limits{};
  lim.max_event_bytes = 200;
  EXPECT_TRUE(accepted(decode(canonical_event_of_size(200), lim)));
  EXPECT_TRUE(refused(decode(canonical_event_of_size(201), lim), errc::too_long));
}

TEST(EventDecoder, HonoursConfiguredDepth) {
  codec_limits lim;
  lim.max_depth = 4;  // event object, patch, and two nested arrays
  EXPECT_TRUE(accepted(decode(base().set("patch", R"({"v":[[]]})").str(), lim)));
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"v":[[[]]]})").str(), lim), errc::bad_json));
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"v":[{"a":{}}]})").str(), lim), errc::bad_json));
}

// ==== round trips ========================================================================================

std::vector<event> sample_events() {
  std::vector<event> out{minimal_event(), full_event(), summary_event()};
  event e = full_event();
  e.changed_keys = std::vector<std::string>{};
  e.patch = std::vector<patch_entry>{};
  out.push_back(e);
  e = minimal_event();
  e.version = std::numeric_limits<std::int64_t>::max();
  e.offset = std::numeric_limits<std::uint64_t>::max();
  e.ts = "2024-05-01T12:34:56.123456-07:30";
  out.push_back(e);
  e = minimal_event();
  e.version = 0;
  e.offset = 0;
  out.push_back(e);
  e = minimal_event();
  e.type = "price_list";
  e.id = "550e8400-e29b-41d4-a716-446655440000";
  e.factory_id = std::string(k_max_id_length, 'F');
  e.act = action::reject;
  e.changed_keys = std::vector<std::string>{"z", "a", "m"};
  e.patch = std::vector<patch_entry>{{"a", R"({"b":[1,2,{"c":null}],"d":"x y"})"}, {"m", "-0.25"}, {"z", "false"}};
  out.push_back(e);
  for (action a : {action::create, action::update, action::del, action::approve, action::reject}) {
    e = minimal_event();
    e.act = a;
    out.push_back(e);
  }
  return out;
}

TEST(EventCodec, DecodeOfEncodeIsIdentityForValidEvents) {
  event_decoder dec(defaults());
  for (const auto& e : sample_events()) {
    const std::string text = encode(e);
    const auto r = dec.decode(text);
    ASSERT_TRUE(accepted(r)) << text;
    EXPECT_EQ(*r, e) << text;
  }
}

TEST(EventCodec, EncodeOfDecodeIsIdentityForCanonicalText) {
  event_decoder dec(defaults());
  for (const auto& e : sample_events()) {
    const std::string text = encode(e);
    const auto r = dec.decode(text);
    ASSERT_TRUE(accepted(r)) << text;
    EXPECT_EQ(encode(*r), text);
  }
}

TEST(EventCodec, NonCanonicalInputsForTheSameEventEncodeEqual) {
  const auto a = decode(base().set("patch", R"({"b" : [ 1, 2 ], "a" : { "x" : 1 }})").set("version", "3").str());
  const auto b = decode(R"({ "version":3, "patch":{"a":{"x":1},"b":[1,2]}, "action":"update", "factoryId":"f1",)"
                        R"( "id":"123", "type":"wo" })");
  ASSERT_TRUE(accepted(a));
  ASSERT_TRUE(accepted(b));
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(encode(*a), encode(*b));
  EXPECT_EQ(
      encode(*a),
      R"({"type":"wo","id":"123","factoryId":"f1","action":"update","version":3,"patch":{"a":{"x":1},"b":[1,2]}})");
}

TEST(EventCodec, ReencodingIsStableForEscapedPatchStrings) {
  const auto first = decode(base().set("patch", R"({"note":"caf\u00e9 \"q\" \\ \n \u0001 \ud83d\ude00"})").str());
  ASSERT_TRUE(accepted(first));
  const std::string once = encode(*first);
  const auto second = decode(once);
  ASSERT_TRUE(accepted(second)) << once;
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(encode(*second), once);
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(once, ec);
  ASSERT_FALSE(ec) << once;
  EXPECT_EQ(std::string_view(v.as_object().at("patch").as_object().at("note").as_string()),
            "caf\xc3\xa9 \"q\" \\ \n \x01 \xf0\x9f\x98\x80");
}

TEST(EventCodec, RoundTripsColumnNamesThatNeedEscaping) {
  event e = minimal_event();
  e.changed_keys = std::vector<std::string>{"we\"ird", "back\\slash", "caf\xc3\xa9", "sp ace", "a/b", "x:y"};
  e.patch = std::vector<patch_entry>{{"back\\slash", "1"}, {"caf\xc3\xa9", "2"}, {"we\"ird", "3"}};
  const std::string text = encode(e);
  const auto r = decode(text);
  ASSERT_TRUE(accepted(r)) << text;
  EXPECT_EQ(*r, e) << text;
}

// ==== decode_batch =======================================================================================

TEST(DecodeBatch, KeepsEachGoodItemWithItsIndexAndEachBadOneWithItsCode) {
  const std::vector<std::string> items{
      base().str(),                                               // 0 good
      base().set("action", q("insert")).str(),                    // 1 unknown_action
      base().set("version", "2").str(),                           // 2 good
      base().set("type", q("ticket")).str(),                      // 3 unknown_doc_type
      "42",                                                       // 4 not_object
      summary().str(),                                            // 5 good
      base().add("id", q("124")).str(),                           // 6 duplicate_key
      base().erase("factoryId").str(),                            // 7 missing_field
      q("doc:wo:1"),                                              // 8 not_object
      base().set("id", q(std::string(65, 'a'))).str(),            // 9 too_long
      base().set("extra", "true").str(),                          // 10 unknown_field
      base().set("version", "-3").str(),                          // 11 bad_value
      base().set("id", q("a b")).str(),                           // 12 bad_char
      base().set("changedKeys", R"(["a","a"])").str(),            // 13 duplicate_key
      base().set("version", q("5")).str(),                        // 14 wrong_type
      "[]",                                                       // 15 not_object
      base().set("id", q("9")).set("action", q("delete")).str(),  // 16 good
  };
  std::string json = "[";
  for (std::size_t i = 0; i < items.size(); ++i) json.append(i ? ",\n " : "").append(items[i]);
  json += "]";

  const auto r = decode_batch(json);
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ((*r)[i].index, i);

  const std::vector<std::pair<std::size_t, errc>> bad{
      {1, errc::unknown_action}, {3, errc::unknown_doc_type}, {4, errc::not_object},     {6, errc::duplicate_key},
      {7, errc::missing_field},  {8, errc::not_object},       {9, errc::too_long},       {10, errc::unknown_field},
      {11, errc::bad_value},     {12, errc::bad_char},        {13, errc::duplicate_key}, {14, errc::wrong_type},
      {15, errc::not_object}};
  for (const auto& [i, code] : bad) EXPECT_TRUE(refused((*r)[i].outcome, code)) << "item " << i;

  for (std::size_t i : {0u, 2u, 5u, 16u}) {
    ASSERT_TRUE(accepted((*r)[i].outcome)) << "item " << i;
    EXPECT_EQ(*(*r)[i].outcome, decode(items[i]).value()) << "item " << i;
  }
  EXPECT_EQ((*r)[16].outcome->id, "9");
  EXPECT_EQ((*r)[16].outcome->act, action::del);
}

TEST(DecodeBatch, ErrorsOfItemsNameTheirFields) {
  const auto r = decode_batch("[" + base().erase("factoryId").str() + "," + base().set("ts", q("now")).str() + "]");
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE(refused((*r)[0].outcome, errc::missing_field, "factoryId"));
  EXPECT_TRUE(refused((*r)[1].outcome, errc::bad_value, "ts"));
}

TEST(DecodeBatch, SingleObjectYieldsOneItemAtIndexZero) {
  const auto r = decode_batch(encode(full_event()));
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 0u);
  ASSERT_TRUE(accepted((*r)[0].outcome));
  EXPECT_EQ(*(*r)[0].outcome, full_event());
}

TEST(DecodeBatch, SingleRefusedObjectYieldsOneRefusedItem) {
  const auto r = decode_batch(base().set("action", q("insert")).str());
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].index, 0u);
  EXPECT_TRUE(refused((*r)[0].outcome, errc::unknown_action, "action"));
}

TEST(DecodeBatch, EmptyArrayYieldsNoItems) {
  const auto r = decode_batch(" [ ] ");
  ASSERT_TRUE(accepted(r));
  EXPECT_TRUE(r->empty());
}

TEST(DecodeBatch, RefusesMalformedDocumentAsAWhole) {
  const std::string good = base().str();
  for (const std::string& j :
       {"[" + good + ",{", "[" + good + ",]", "[" + good + "," + good, "[" + good + "]]", "[" + good + "] " + good,
        std::string("[{\"type\":\"wo\",}]"), "[" + good + ",\"\xff\"]"}) {
    EXPECT_TRUE(refused(decode_batch(j), errc::bad_json)) << j;
  }
}

TEST(DecodeBatch, RefusesEmptyInput) {
  EXPECT_TRUE(refused(decode_batch(""), errc::empty));
  EXPECT_TRUE(refused_any(decode_batch("  \n"), {errc::empty, errc::bad_json}));
}

TEST(DecodeBatch, RefusesScalarDocument) {
  // Neither an object nor an array: refused as a whole, or as its single item.
  for (std::string_view j : {"42", "\"x\"", "null", "true"}) {
    const auto r = decode_batch(j);
    if (r.has_value()) {
      ASSERT_EQ(r->size(), 1u) << j;
      EXPECT_EQ((*r)[0].index, 0u);
      EXPECT_TRUE(refused((*r)[0].outcome, errc::not_object)) << j;
    } else {
      EXPECT_TRUE(refused(r, errc::not_object)) << j;
    }
  }
}

TEST(DecodeBatch, NestedArrayItemIsRefusedAsNotObject) {
  const auto r = decode_batch("[[" + base().str() + "]," + base().str() + "]");
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE(refused((*r)[0].outcome, errc::not_object));
  EXPECT_TRUE(accepted((*r)[1].outcome));
}

std::string batch_of(std::size_t n) {
  std::string json = "[";
  for (std::size_t i = 0; i < n; ++i) json.append(i ? "," : "").append(base().set("id", q(std::to_string(i))).str());
  json += ']';
  return json;
}

TEST(DecodeBatch, AcceptsExactlyMaxBatchItems) {
  const auto r = decode_batch(batch_of(codec_limits{}.max_batch_items));
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1000u);
  for (std::size_t i = 0; i < r->size(); ++i) {
    ASSERT_EQ((*r)[i].index, i);
    ASSERT_TRUE(accepted((*r)[i].outcome)) << "item " << i;
    ASSERT_EQ((*r)[i].outcome->id, std::to_string(i));
  }
}

TEST(DecodeBatch, RefusesOneOverMaxBatchItemsAsAWhole) {
  EXPECT_TRUE(refused(decode_batch(batch_of(codec_limits{}.max_batch_items + 1)), errc::too_many, "1000"));
}

TEST(DecodeBatch, HonoursConfiguredMaxBatchItems) {
  codec_limits lim;
  lim.max_batch_items = 2;
  EXPECT_TRUE(accepted(decode_batch(batch_of(2), lim)));
  EXPECT_TRUE(refused(decode_batch(batch_of(3), lim), errc::too_many));
  EXPECT_TRUE(refused(decode_batch("[1,2,3]", lim), errc::too_many));  // bad items count too
}

std::string batch_padded_to(std::size_t bytes) {
  const std::string item = base().str();
  return cat({"[", std::string(bytes - item.size() - 2, ' '), item, "]"});
}

TEST(DecodeBatch, AcceptsExactlyMaxBatchBytes) {
  const std::string json = batch_padded_to(codec_limits{}.max_batch_bytes);
  ASSERT_EQ(json.size(), std::size_t{4} << 20);
  const auto r = decode_batch(json);
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE(accepted((*r)[0].outcome));
}

TEST(DecodeBatch, RefusesOneOverMaxBatchBytes) {
  EXPECT_TRUE(refused(decode_batch(batch_padded_to(codec_limits{}.max_batch_bytes + 1)), errc::too_long,
                      std::to_string(codec_limits{}.max_batch_bytes)));
}

TEST(DecodeBatch, RefusesOversizeItemAloneKeepingItsNeighbours) {
  const std::string json = "[" + base().str() + "," + canonical_event_of_size(codec_limits{}.max_event_bytes + 1) +
                           "," + canonical_event_of_size(codec_limits{}.max_event_bytes) + "]";
  const auto r = decode_batch(json);
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE(accepted((*r)[0].outcome));
  EXPECT_TRUE(refused((*r)[1].outcome, errc::too_long));
  EXPECT_TRUE(accepted((*r)[2].outcome));
}

TEST(DecodeBatch, RefusesOversizeSingleObject) {
  // The single-object form is a batch of one: the per-event bound applies to it as to an array item and to decode.
  const std::string json = canonical_event_of_size(codec_limits{}.max_event_bytes + 1);
  ASSERT_TRUE(refused(decode(json), errc::too_long));
  const auto r = decode_batch(json);
  if (r.has_value()) {
    ASSERT_EQ(r->size(), 1u);
    EXPECT_TRUE(refused((*r)[0].outcome, errc::too_long));
  } else {
    EXPECT_TRUE(refused(r, errc::too_long));
  }
}

TEST(DecodeBatch, AcceptsSingleObjectOfExactlyMaxEventBytes) {
  const auto r = decode_batch(canonical_event_of_size(codec_limits{}.max_event_bytes));
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE(accepted((*r)[0].outcome));
}

TEST(DecodeBatch, ReadsNoByteBeyondTheInput) {
  const std::string json = "[" + base().str() + "]";
  const auto mem = std::make_unique<char[]>(json.size());
  std::memcpy(mem.get(), json.data(), json.size());
  const auto r = decode_batch(std::string_view(mem.get(), json.size()));
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->size(), 1u);
}

}  // namespace
}  // namespace rtcache::core

namespace rtcache::core {
namespace {

TEST(DecodeBatch, ItemsGetTheSameDepthBoundAsSingleEvents) {
  // The array adds a level; an item as deep as decode() accepts must not sink the whole batch.
  const std::string deep = base().set("patch", "{\"deep\":" + nested_arrays(codec_limits{}.max_depth - 2) + "}").str();
  const auto r = decode_batch("[" + deep + "," + base().str() + "]");
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 2U);
  EXPECT_TRUE(accepted((*r)[0].outcome));
  EXPECT_TRUE(accepted((*r)[1].outcome));
}

TEST(DecodeBatch, SingleObjectKeepsTheExactDepthBound) {
  const std::string too_deep = base().set("patch", "{\"deep\":" + nested_arrays(codec_limits{}.max_depth - 1) + "}").str();
  EXPECT_TRUE(refused(decode(too_deep), errc::bad_json));
  const auto r = decode_batch(too_deep);
  ASSERT_TRUE(accepted(r));
  ASSERT_EQ(r->size(), 1U);
  EXPECT_TRUE(refused((*r)[0].outcome, errc::bad_json));
}

TEST(EventDecoder, RefusesARepeatedKeyInsideAPatchValue) {
  // Parsers disagree on which of two values wins, so no value of such an object is safe to forward.
  EXPECT_TRUE(refused(decode(base().set("patch", R"({"d":{"a":1,"a":2}})").str()), errc::duplicate_key, "patch"));
  EXPECT_TRUE(accepted(decode(base().set("patch", R"({"d":{"a":1,"b":{"a":2}}})").str())));
}

}  // namespace
}  // namespace rtcache::core

namespace rtcache::core {
namespace {

// Found by event_codec_fuzz: 2e19 was accepted, then encoded as bare digits that no decoder reads back.
TEST(EventDecoder, RefusesIntegralPatchNumbersBeyond64BitsInsteadOfEncodingThemUnreadably) {
  for (const char* n : {"2e19", "-1e19", "-9.3e18", "1e20", "9.99e20", "1.8446744073709552e19"}) {
    EXPECT_TRUE(refused(decode(base().set("patch", cat({"{\"d\":", n, "}"})).str()), errc::bad_value, "patch")) << n;
  }
  for (const char* n : {"1e19", "1e21", "1.5e300", "-9e18"}) {
    const auto r = decode(base().set("patch", cat({"{\"d\":", n, "}"})).str());
    ASSERT_TRUE(accepted(r)) << n;
    EXPECT_TRUE(accepted(decode(encode(*r)))) << n << " -> " << encode(*r);
  }
}

}  // namespace
}  // namespace rtcache::core
