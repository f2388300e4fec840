#include "server/schema/schema_reference.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace credvault::server {
namespace {

std::string Str(std::string_view s) { return std::string(s); }

std::string Names(absl::Span<const std::string_view> names) {
  std::vector<std::string> copies;
  for (std::string_view name : names) copies.push_back(Str(name));
  return absl::StrJoin(copies, ", ");
}

class DescribeVisitor final : public SchemaVisitor {
 public:
  std::vector<SchemaKey> TakeKeys() { return std::move(keys_); }

  void String(std::string_view key, std::string* value, const FieldDoc& doc) override {
    Add(key, doc, "string", value->empty() ? "none" : absl::StrCat("\"", *value, "\""));
  }
  void Bool(std::string_view key, bool* value, const FieldDoc& doc) override {
    Add(key, doc, "bool", *value ? "true" : "false");
  }
  void Integer(std::string_view key, std::int64_t* value, std::int64_t min, std::int64_t max,
               const FieldDoc& doc) override {
    Add(key, doc, absl::StrCat("integer ", min, "..", max), absl::StrCat(*value));
  }
  void Duration(std::string_view key, absl::Duration* value, absl::Duration min, absl::Duration max,
                const FieldDoc& doc) override {
    Add(key, doc,
        absl::StrCat("duration ", absl::FormatDuration(min), "..", absl::FormatDuration(max)),
        absl::FormatDuration(*value));
  }
  void Choice(std::string_view key, std::size_t* index, absl::Span<const std::string_view> names,
              const FieldDoc& doc) override {
    Add(key, doc, absl::StrCat("one of: ", Names(names)), Str(names[*index]));
  }
  void ChoiceList(std::string_view key, std::vector<std::size_t>* indices,
                  absl::Span<const std::string_view> names, const FieldDoc& doc) override {
    std::vector<std::string> chosen;
    for (std::size_t i : *indices) chosen.push_back(Str(names[i]));
    Add(key, doc, absl::StrCat("list of: ", Names(names)),
        chosen.empty() ? "none" : absl::StrCat("[", absl::StrJoin(chosen, ", "), "]"));
  }
  void StringList(std::string_view key, std::vector<std::string>*, const FieldDoc& doc) override {
    Add(key, doc, "list of strings", "none");
  }
  void VersionMap(std::string_view key, std::map<std::uint32_t, std::string>*,
                  const FieldDoc& doc) override {
    Add(key, doc, "mapping of version (integer >= 1) to string", "none");
  }
  void Section(std::string_view key, const FieldDoc& doc, absl::FunctionRef<void()> body) override {
    Add(key, doc, "section", doc.required ? "required" : "none", /*is_section=*/true);
    prefix_.push_back(Str(key));
    body();
    prefix_.pop_back();
  }
  void SectionList(std::string_view key, const FieldDoc& doc,
                   absl::FunctionRef<void()> element) override {
    Add(key, doc, "list of sections", doc.required ? "required" : "none", /*is_section=*/true);
    prefix_.push_back(absl::StrCat(Str(key), "[]"));
    element();
    prefix_.pop_back();
  }

 private:
  void Add(std::string_view key, const FieldDoc& doc, std::string type, std::string default_value,
           bool is_section = false) {
    std::vector<std::string> parts = prefix_;
    parts.push_back(Str(key));
    keys_.push_back(SchemaKey{
        .path = absl::StrJoin(parts, "."),
        .type = doc.type.empty() ? std::move(type) : Str(doc.type),
        .default_value = doc.required ? "required" : std::move(default_value),
        .help = Str(doc.help),
        .is_section = is_section,
    });
  }

  std::vector<std::string> prefix_;
  std::vector<SchemaKey> keys_;
};

// Appends `text` wrapped at kWidth columns, indented by four spaces.
void AppendWrapped(std::string_view text, std::string* out) {
  constexpr std::size_t kWidth = 92;
  std::string line;
  const std::vector<std::string> words = absl::StrSplit(Str(text), ' ', absl::SkipEmpty());
  for (const std::string& word : words) {
    if (!line.empty() && line.size() + 1 + word.size() > kWidth - 4) {
      absl::StrAppend(out, "    ", line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(out, "    ", line, "\n");
}

}  // namespace

std::vector<SchemaKey> DescribeSchema(absl::FunctionRef<void(SchemaVisitor&)> schema) {
  DescribeVisitor visitor;
  schema(visitor);
  return visitor.TakeKeys();
}

std::string RenderSchemaReference(absl::Span<const SchemaKey> keys) {
  std::string out;
  for (const SchemaKey& key : keys) {
    absl::StrAppend(&out, key.path, "  (", key.type);
    if (key.default_value == "required") {
      absl::StrAppend(&out, ", required");
    } else if (key.default_value != "none") {
      absl::StrAppend(&out, ", default ", key.default_value);
    }
    absl::StrAppend(&out, ")\n");
    AppendWrapped(key.help, &out);
  }
  return out;
}

}  // namespace credvault::server
