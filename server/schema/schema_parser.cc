#include "server/schema/schema_parser.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace credvault::server {
namespace {

// Enough to fix a file in one pass without flooding a terminal.
constexpr std::size_t kMaxReportedErrors = 50;

std::string Str(std::string_view s) { return std::string(s); }

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// yaml-cpp tags quoted scalars "!" and plain ones "?"; scalars made in code (overrides)
// have no tag and count as plain.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

bool IsDecimalInteger(std::string_view text) {
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  return !text.empty() && text.size() <= 19 &&
         std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); });
}

std::string JoinNames(absl::Span<const std::string_view> names) {
  std::vector<std::string> copies;
  for (std::string_view name : names) copies.push_back(Str(name));
  return absl::StrJoin(copies, ", ");
}

class ParseVisitor final : public SchemaVisitor {
 public:
  ParseVisitor(std::string_view source_name, std::map<std::string, std::string> origins)
      : source_name_(source_name), origins_(std::move(origins)) {}

  // Walks `root` (a mapping) with `schema`.
  void Run(const YAML::Node& root, absl::FunctionRef<void(SchemaVisitor&)> schema) {
    frames_.push_back({root, "", {}});
    schema(*this);
    FinishFrame();
    frames_.pop_back();
  }

  void ReportAt(const YAML::Node* node, const std::string& path, std::string_view why) {
    if (errors_.size() == kMaxReportedErrors) {
      errors_.push_back(absl::StrCat(source_name_, ": too many problems; stopping here"));
    }
    if (errors_.size() > kMaxReportedErrors) return;
    std::string where = source_name_;
    if (node != nullptr && node->Mark().line >= 0) {
      absl::StrAppend(&where, ":", node->Mark().line + 1);
    }
    std::string key = path;
    for (const auto& [origin_path, origin] : origins_) {
      if (path == origin_path || absl::StartsWith(path, absl::StrCat(origin_path, "["))) {
        key = absl::StrCat(origin, " (", path, ")");
      }
    }
    errors_.push_back(absl::StrCat(where, ": ", key, ": ", Str(why)));
  }

  absl::Status Result() const {
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

  void String(std::string_view key, std::string* value, const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (std::optional<std::string> text = ReadString(*node, path, doc)) *value = *std::move(text);
  }

  void Bool(std::string_view key, bool* value, const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (!node->IsScalar() || IsQuoted(*node) ||
        (node->Scalar() != "true" && node->Scalar() != "false")) {
      ReportAt(&*node, path, "expected true or false");
      return;
    }
    *value = node->Scalar() == "true";
  }

  void Integer(std::string_view key, std::int64_t* value, std::int64_t min, std::int64_t max,
               const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    std::int64_t parsed = 0;
    if (!node->IsScalar() || IsQuoted(*node) || !IsDecimalInteger(node->Scalar()) ||
        !absl::SimpleAtoi(node->Scalar(), &parsed)) {
      ReportAt(&*node, path, "expected an integer");
      return;
    }
    if (parsed < min || parsed > max) {
      ReportAt(&*node, path, absl::StrCat("must be between ", min, " and ", max));
      return;
    }
    *value = parsed;
  }

  void Duration(std::string_view key, absl::Duration* value, absl::Duration min, absl::Duration max,
                const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    absl::Duration parsed;
    if (!node->IsScalar() || !absl::ParseDuration(node->Scalar(), &parsed) ||
        parsed == absl::InfiniteDuration() || parsed == -absl::InfiniteDuration()) {
      ReportAt(&*node, path, "expected a duration with a unit, such as 500ms, 5s, 10m or 24h");
      return;
    }
    if (parsed < min || parsed > max) {
      ReportAt(&*node, path,
               absl::StrCat("must be between ", absl::FormatDuration(min), " and ",
                            absl::FormatDuration(max)));
      return;
    }
    *value = parsed;
  }

  void Choice(std::string_view key, std::size_t* index, absl::Span<const std::string_view> names,
              const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (std::optional<std::size_t> found = ReadChoice(*node, path, names)) *index = *found;
  }

  void ChoiceList(std::string_view key, std::vector<std::size_t>* indices,
                  absl::Span<const std::string_view> names, const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node || !CheckNonEmptyList(*node, path)) return;
    std::vector<std::size_t> parsed;
    bool ok = true;
    for (std::size_t i = 0; i < node->size(); ++i) {
      const YAML::Node element = (*node)[i];
      const std::string element_path = absl::StrCat(path, "[", i, "]");
      const std::optional<std::size_t> found = ReadChoice(element, element_path, names);
      if (!found) {
        ok = false;
      } else if (std::find(parsed.begin(), parsed.end(), *found) != parsed.end()) {
        ReportAt(&element, element_path, absl::StrCat("duplicate entry ", Str(names[*found])));
        ok = false;
      } else {
        parsed.push_back(*found);
      }
    }
    if (ok) *indices = std::move(parsed);
  }

  void StringList(std::string_view key, std::vector<std::string>* values,
                  const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node || !CheckNonEmptyList(*node, path)) return;
    std::vector<std::string> parsed;
    bool ok = true;
    for (std::size_t i = 0; i < node->size(); ++i) {
      const YAML::Node element = (*node)[i];
      const std::string element_path = absl::StrCat(path, "[", i, "]");
      std::optional<std::string> text = ReadString(element, element_path, doc);
      if (!text) {
        ok = false;
      } else if (std::find(parsed.begin(), parsed.end(), *text) != parsed.end()) {
        ReportAt(&element, element_path, "duplicate entry");
        ok = false;
      } else {
        parsed.push_back(*std::move(text));
      }
    }
    if (ok) *values = std::move(parsed);
  }

  void VersionMap(std::string_view key, std::map<std::uint32_t, std::string>* values,
                  const FieldDoc& doc) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (!node->IsMap() || node->size() == 0) {
      ReportAt(&*node, path, "expected a mapping of versions (integers >= 1) to values");
      return;
    }
    std::map<std::uint32_t, std::string> parsed;
    bool ok = true;
    for (auto it = node->begin(); it != node->end(); ++it) {
      // Copies: yaml-cpp iterators hand out temporary proxies.
      const YAML::Node version_node = it->first;
      const YAML::Node value_node = it->second;
      std::uint32_t version = 0;
      if (!version_node.IsScalar() || !IsDecimalInteger(version_node.Scalar()) ||
          !absl::SimpleAtoi(version_node.Scalar(), &version) || version == 0) {
        ReportAt(&version_node, path, "versions must be integers >= 1");
        ok = false;
        continue;
      }
      const std::string entry_path = absl::StrCat(path, ".", version);
      std::optional<std::string> text = ReadString(value_node, entry_path, doc);
      if (!text) {
        ok = false;
      } else if (!parsed.emplace(version, *std::move(text)).second) {
        ReportAt(&version_node, entry_path, "duplicate version");
        ok = false;
      }
    }
    if (ok) *values = std::move(parsed);
  }

  void Section(std::string_view key, const FieldDoc& doc, absl::FunctionRef<void()> body) override {
    const std::string path = PathOf(key);
    std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (node->IsNull()) node = YAML::Node(YAML::NodeType::Map);
    if (!node->IsMap()) {
      ReportAt(&*node, path, absl::StrCat("expected a mapping, not ", KindName(*node)));
      return;
    }
    frames_.push_back({*node, path, {}});
    body();
    FinishFrame();
    frames_.pop_back();
  }

  void SectionList(std::string_view key, const FieldDoc& doc,
                   absl::FunctionRef<void()> element) override {
    const std::string path = PathOf(key);
    const std::optional<YAML::Node> node = Find(key, doc);
    if (!node) return;
    if (node->IsNull()) return;  // `key:` is an empty list
    if (!node->IsSequence()) {
      ReportAt(&*node, path, absl::StrCat("expected a list, not ", KindName(*node)));
      return;
    }
    for (std::size_t i = 0; i < node->size(); ++i) {
      const YAML::Node item = (*node)[i];
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      if (!item.IsMap()) {
        ReportAt(&item, item_path, absl::StrCat("expected a mapping, not ", KindName(item)));
        continue;
      }
      frames_.push_back({item, item_path, {}});
      element();
      FinishFrame();
      frames_.pop_back();
    }
  }

 private:
  struct Frame {
    YAML::Node mapping;
    std::string path;
    std::vector<std::string_view> known_keys;
  };

  std::string PathOf(std::string_view key) const {
    const std::string& parent = frames_.back().path;
    return parent.empty() ? Str(key) : absl::StrCat(parent, ".", Str(key));
  }

  // The value of `key` in the current mapping, recording the key as known. Reports a
  // missing required key.
  std::optional<YAML::Node> Find(std::string_view key, const FieldDoc& doc) {
    Frame& frame = frames_.back();
    frame.known_keys.push_back(key);
    for (auto it = frame.mapping.begin(); it != frame.mapping.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    }
    if (doc.required) ReportAt(&frame.mapping, PathOf(key), "required");
    return std::nullopt;
  }

  // Unknown and duplicate keys of the current mapping.
  void FinishFrame() {
    const Frame& frame = frames_.back();
    std::set<std::string> seen;
    for (auto it = frame.mapping.begin(); it != frame.mapping.end(); ++it) {
      const YAML::Node key_node = it->first;  // a copy: the iterator yields a proxy
      if (!key_node.IsScalar()) {
        ReportAt(&key_node, frame.path.empty() ? "(top level)" : frame.path,
                 "keys must be plain strings");
        continue;
      }
      const std::string& key = key_node.Scalar();
      const std::string path = frame.path.empty() ? key : absl::StrCat(frame.path, ".", key);
      if (!seen.insert(key).second) {
        ReportAt(&key_node, path, "duplicate key");
      } else if (std::find(frame.known_keys.begin(), frame.known_keys.end(), key) ==
                 frame.known_keys.end()) {
        ReportAt(&key_node, path,
                 absl::StrCat("unknown key; known keys: ", JoinNames(frame.known_keys)));
      }
    }
  }

  std::optional<std::string> ReadString(const YAML::Node& node, const std::string& path,
                                        const FieldDoc& doc) {
    if (node.IsNull() || (node.IsScalar() && node.Scalar().empty())) {
      ReportAt(&node, path, "must not be empty");
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      ReportAt(&node, path, absl::StrCat("expected a string, not ", KindName(node)));
      return std::nullopt;
    }
    if (doc.check != nullptr) {
      if (absl::Status status = doc.check(node.Scalar()); !status.ok()) {
        ReportAt(&node, path, std::string(status.message()));
        return std::nullopt;
      }
    }
    return node.Scalar();
  }

  std::optional<std::size_t> ReadChoice(const YAML::Node& node, const std::string& path,
                                        absl::Span<const std::string_view> names) {
    if (node.IsScalar()) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (node.Scalar() == names[i]) return i;
      }
    }
    ReportAt(&node, path, absl::StrCat("must be one of: ", JoinNames(names)));
    return std::nullopt;
  }

  bool CheckNonEmptyList(const YAML::Node& node, const std::string& path) {
    if (!node.IsSequence() || node.size() == 0) {
      ReportAt(&node, path, "expected a non-empty list");
      return false;
    }
    return true;
  }

  const std::string source_name_;
  const std::map<std::string, std::string> origins_;
  std::vector<Frame> frames_;
  std::vector<std::string> errors_;
};

// Sets `value` at `segments` under `node`, making missing mappings on the way.
absl::Status SetAtPath(YAML::Node node, absl::Span<const std::string> segments,
                       const YAML::Node& value, const std::string& origin) {
  if (segments.size() == 1) {
    node[segments[0]] = value;
    return absl::OkStatus();
  }
  if (!node[segments[0]] || node[segments[0]].IsNull()) {
    node[segments[0]] = YAML::Node(YAML::NodeType::Map);
  }
  YAML::Node child = node[segments[0]];
  if (!child.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", segments[0], " is not a mapping in the file"));
  }
  return SetAtPath(child, segments.subspan(1), value, origin);
}

// Parser events ignored: only how many documents there are matters.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

absl::Status ParseYamlWithSchema(std::string_view yaml, std::string_view source_name,
                                 absl::FunctionRef<void(SchemaVisitor&)> schema,
                                 const std::vector<KeyOverride>& overrides) {
  YAML::Node root;
  try {
    // Not YAML::LoadAll: in yaml-cpp 0.7 (Debian 12) it never returns, allocating without
    // bound, on some malformed input such as a stray ",". Counting at most two documents
    // without building them, then loading the first, always ends.
    std::istringstream stream{Str(yaml)};
    YAML::Parser parser(stream);
    DocumentCounter counter;
    int documents = 0;
    while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
    if (documents > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Str(source_name), ": expected one YAML document, found more"));
    }
    root = documents == 0 ? YAML::Node(YAML::NodeType::Null) : YAML::Load(Str(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's messages say where and what went wrong syntactically, without content.
    return absl::InvalidArgumentError(absl::StrCat(Str(source_name), ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Str(source_name), ": expected a mapping at the top level, not ", KindName(root)));
  }

  std::map<std::string, std::string> origins;
  for (const KeyOverride& override_value : overrides) {
    YAML::Node value;
    if (const auto* scalar = std::get_if<std::string>(&override_value.value)) {
      value = *scalar;
    } else {
      value = YAML::Node(YAML::NodeType::Sequence);
      for (const std::string& element : std::get<std::vector<std::string>>(override_value.value)) {
        value.push_back(element);
      }
    }
    const std::vector<std::string> segments = absl::StrSplit(override_value.path, '.');
    if (absl::Status status = SetAtPath(root, segments, value, override_value.origin);
        !status.ok()) {
      return status;
    }
    origins[override_value.path] = override_value.origin;
  }

  ParseVisitor visitor(source_name, std::move(origins));
  visitor.Run(root, schema);
  return visitor.Result();
}

}  // namespace credvault::server
