#include "tests/e2e/support/database_copy.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

#include "gtest/gtest.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

std::uint32_t ToU32(const std::string& text) {
  return static_cast<std::uint32_t>(std::stoul(text));
}

std::optional<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = digit(hex[i]);
    const int low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(high * 16 + low));
  }
  return out;
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

// NULL is written as the word NULL, which no hex encoding can be.
constexpr char kHexOrNull[] = "'NULL'";

std::optional<Bytes> NullableHex(const std::string& field) {
  if (field == "NULL") return std::nullopt;
  std::optional<Bytes> bytes = FromHex(field);
  EXPECT_TRUE(bytes.has_value()) << "not hex: " << field;
  return bytes ? bytes : Bytes{};
}

}  // namespace

std::string At(const std::string& name, std::uint64_t version) {
  return name + "@" + std::to_string(version);
}

std::string HexOf(const Bytes& bytes) { return HexLower(std::string(bytes.begin(), bytes.end())); }

std::ostream& operator<<(std::ostream& out, const OrgKeyRow& row) {
  return out << row.org_id << " key " << row.version << " " << row.state
             << (row.sealed_private_key ? " (sealed private half present)" : " (NULL)");
}

std::vector<OrgKeyRow> ReadOrgKeys(const Stack& stack) {
  std::vector<OrgKeyRow> keys;
  for (const auto& f :
       SuperuserRows(stack,
                     "SELECT org_id, version, encode(public_key, 'hex'), "
                     "coalesce(encode(sealed_private_key, 'hex'), " +
                         std::string(kHexOrNull) +
                         "), root_key_version, state, "
                         "coalesce(directory_key_version, 0), "
                         "coalesce(encode(signature, 'hex'), " +
                         std::string(kHexOrNull) + ") FROM org_keys ORDER BY org_id, version",
                     8)) {
    OrgKeyRow row;
    row.org_id = f[0];
    row.version = ToU32(f[1]);
    row.public_key = NullableHex(f[2]).value_or(Bytes{});
    row.sealed_private_key = NullableHex(f[3]);
    row.root_key_version = ToU32(f[4]);
    row.state = f[5];
    row.directory_key_version = ToU32(f[6]);
    row.signature = NullableHex(f[7]).value_or(Bytes{});
    keys.push_back(std::move(row));
  }
  return keys;
}

DatabaseCopy ReadDatabaseCopy(const Stack& stack) {
  DatabaseCopy copy;
  for (const auto& f : SuperuserRows(
           stack, "SELECT org_id, state, destroyed_at IS NOT NULL FROM orgs ORDER BY org_id", 3)) {
    copy.orgs.push_back(OrgRow{f[0], f[1], f[2] == "t"});
  }
  for (const auto& f : SuperuserRows(stack,
                                     "SELECT version, encode(public_key, 'hex'), "
                                     "encode(sealed_private_key, 'hex'), seal_key_id, state "
                                     "FROM root_keys ORDER BY version",
                                     5)) {
    RootKeyRow row;
    row.version = ToU32(f[0]);
    row.public_key = NullableHex(f[1]).value_or(Bytes{});
    row.sealed_private_key = NullableHex(f[2]).value_or(Bytes{});
    row.seal_key_id = f[3];
    row.state = f[4];
    copy.root_keys.push_back(std::move(row));
  }
  copy.org_keys = ReadOrgKeys(stack);
  for (const auto& f : SuperuserRows(stack,
                                     "SELECT org_id, name, version, coalesce(encode(envelope, "
                                     "'hex'), " +
                                         std::string(kHexOrNull) +
                                         "), org_key_version, erased FROM credentials "
                                         "ORDER BY org_id, name, version",
                                     6)) {
    CredentialRow row;
    row.org_id = f[0];
    row.name = f[1];
    row.version = std::stoull(f[2]);
    row.envelope = NullableHex(f[3]);
    row.org_key_version = ToU32(f[4]);
    row.erased = f[5] == "t";
    copy.credentials.push_back(std::move(row));
  }
  return copy;
}

namespace {

// The rows of one table of a plain-format pg_dump (its COPY ... FROM stdin block), as
// column name -> field, nullopt for NULL, COPY escapes undone.
using DumpRow = std::map<std::string, std::optional<std::string>>;

std::string UnescapeCopyField(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\' || i + 1 == field.size()) {
      out += field[i];
      continue;
    }
    const char next = field[++i];
    switch (next) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        out += next;  // "\\" and anything not used by these tables
    }
  }
  return out;
}

std::vector<DumpRow> DumpTable(const std::string& dump, const std::string& table) {
  std::vector<DumpRow> rows;
  const std::string header = "\nCOPY public." + table + " (";
  std::size_t at = dump.find(header);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no COPY block for " << table << " in the dump";
    return rows;
  }
  at += header.size();
  const std::size_t close = dump.find(')', at);
  std::vector<std::string> columns;
  for (std::string column : Split(dump.substr(at, close - at), ',')) {
    column.erase(0, column.find_first_not_of(' '));
    if (column.size() >= 2 && column.front() == '"') column = column.substr(1, column.size() - 2);
    columns.push_back(column);
  }
  std::size_t line_start = dump.find('\n', close) + 1;
  while (line_start < dump.size()) {
    std::size_t line_end = dump.find('\n', line_start);
    if (line_end == std::string::npos) line_end = dump.size();
    const std::string line = dump.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (line == "\\.") return rows;
    const std::vector<std::string> fields = Split(line, '\t');
    if (fields.size() != columns.size()) {
      ADD_FAILURE() << table << ": a row of " << fields.size() << " fields for " << columns.size()
                    << " columns: " << line;
      continue;
    }
    DumpRow row;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      row[columns[i]] = fields[i] == "\\N"
                            ? std::nullopt
                            : std::optional<std::string>(UnescapeCopyField(fields[i]));
    }
    rows.push_back(std::move(row));
  }
  ADD_FAILURE() << table << ": the COPY block does not end";
  return rows;
}

std::string DumpText(const DumpRow& row, const std::string& column) {
  const auto it = row.find(column);
  EXPECT_NE(it, row.end()) << "no column " << column;
  if (it == row.end() || !it->second) return "";
  return *it->second;
}

// A bytea field of a dump ("\x" and hex digits), nullopt for NULL.
std::optional<Bytes> DumpBytes(const DumpRow& row, const std::string& column) {
  const auto it = row.find(column);
  EXPECT_NE(it, row.end()) << "no column " << column;
  if (it == row.end() || !it->second) return std::nullopt;
  const std::string& value = *it->second;
  EXPECT_EQ(value.rfind("\\x", 0), 0u) << column << " is not a hex bytea: " << value;
  std::optional<Bytes> bytes =
      FromHex(std::string_view(value).substr(std::min<std::size_t>(2, value.size())));
  EXPECT_TRUE(bytes.has_value()) << column << ": " << value;
  return bytes ? bytes : Bytes{};
}

}  // namespace

DatabaseCopy ParseDatabaseDump(const std::string& dump) {
  DatabaseCopy copy;
  for (const DumpRow& row : DumpTable(dump, "orgs")) {
    copy.orgs.push_back(OrgRow{DumpText(row, "org_id"), DumpText(row, "state"),
                               row.at("destroyed_at").has_value()});
  }
  for (const DumpRow& row : DumpTable(dump, "root_keys")) {
    RootKeyRow key;
    key.version = ToU32(DumpText(row, "version"));
    key.public_key = DumpBytes(row, "public_key").value_or(Bytes{});
    key.sealed_private_key = DumpBytes(row, "sealed_private_key").value_or(Bytes{});
    key.seal_key_id = DumpText(row, "seal_key_id");
    key.state = DumpText(row, "state");
    copy.root_keys.push_back(std::move(key));
  }
  for (const DumpRow& row : DumpTable(dump, "org_keys")) {
    OrgKeyRow key;
    key.org_id = DumpText(row, "org_id");
    key.version = ToU32(DumpText(row, "version"));
    key.public_key = DumpBytes(row, "public_key").value_or(Bytes{});
    key.sealed_private_key = DumpBytes(row, "sealed_private_key");
    key.root_key_version = ToU32(DumpText(row, "root_key_version"));
    key.state = DumpText(row, "state");
    const std::string directory_key_version = DumpText(row, "directory_key_version");
    key.directory_key_version = directory_key_version.empty() ? 0 : ToU32(directory_key_version);
    key.signature = DumpBytes(row, "signature").value_or(Bytes{});
    copy.org_keys.push_back(std::move(key));
  }
  for (const DumpRow& row : DumpTable(dump, "credentials")) {
    CredentialRow credential;
    credential.org_id = DumpText(row, "org_id");
    credential.name = DumpText(row, "name");
    credential.version = std::stoull(DumpText(row, "version"));
    credential.envelope = DumpBytes(row, "envelope");
    credential.org_key_version = ToU32(DumpText(row, "org_key_version"));
    credential.erased = DumpText(row, "erased") == "t";
    copy.credentials.push_back(std::move(credential));
  }
  // The same order as the superuser queries, so the two copies compare.
  std::sort(copy.orgs.begin(), copy.orgs.end(),
            [](const OrgRow& a, const OrgRow& b) { return a.org_id < b.org_id; });
  std::sort(copy.root_keys.begin(), copy.root_keys.end(),
            [](const RootKeyRow& a, const RootKeyRow& b) { return a.version < b.version; });
  std::sort(copy.org_keys.begin(), copy.org_keys.end(), [](const OrgKeyRow& a, const OrgKeyRow& b) {
    return std::tie(a.org_id, a.version) < std::tie(b.org_id, b.version);
  });
  std::sort(copy.credentials.begin(), copy.credentials.end(),
            [](const CredentialRow& a, const CredentialRow& b) {
              return std::tie(a.org_id, a.name, a.version) < std::tie(b.org_id, b.name, b.version);
            });
  return copy;
}

}  // namespace credvault::e2e
