#ifndef CREDVAULT_SERVER_SCHEMA_SCHEMA_H_
#define CREDVAULT_SERVER_SCHEMA_SCHEMA_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace credvault::server {

// A strict schema for a YAML file, written once as code that walks a C++ value type and
// interpreted by two visitors: one parses a document into the value (schema_parser.h), the
// other lists every key with its type, default and meaning (schema_reference.h). The
// parsing rules and the documentation therefore cannot drift apart.
//
// A schema function calls one visitor method per key of a mapping, unconditionally and in
// the order the reference should list them. For example:
//
//   void VisitTls(SchemaVisitor& v, TlsConfig& tls) {
//     v.String("cert_file", &tls.cert_file, {.help = "PEM certificate chain", .required = true});
//     v.Bool("require_client_cert", &tls.require_client_cert, {.help = "..."});
//   }
//
// Absent optional keys keep the value the object already holds, which is therefore also
// the default shown in the reference.

struct FieldDoc {
  // What the key means and why one would set it; rendered in the reference.
  std::string_view help;
  // Rendered type name when the generic one says too little (e.g. "host:port").
  std::string_view type = {};
  // An absent required key is an error; the reference says "required".
  bool required = false;
  // Extra check of a string (or of each list element); its message says why the value is
  // wrong and is prefixed with the key path. It must not echo the value.
  absl::Status (*check)(std::string_view value) = nullptr;
};

class SchemaVisitor {
 public:
  virtual ~SchemaVisitor() = default;

  virtual void String(std::string_view key, std::string* value, const FieldDoc& doc) = 0;
  virtual void Bool(std::string_view key, bool* value, const FieldDoc& doc) = 0;
  virtual void Integer(std::string_view key, std::int64_t* value, std::int64_t min,
                       std::int64_t max, const FieldDoc& doc) = 0;
  // Durations are written with units: 500ms, 5s, 10m, 24h, 1h30m.
  virtual void Duration(std::string_view key, absl::Duration* value, absl::Duration min,
                        absl::Duration max, const FieldDoc& doc) = 0;
  // One of `names`; `*index` is the position of the chosen name.
  virtual void Choice(std::string_view key, std::size_t* index,
                      absl::Span<const std::string_view> names, const FieldDoc& doc) = 0;
  // A non-empty sequence of distinct entries of `names`.
  virtual void ChoiceList(std::string_view key, std::vector<std::size_t>* indices,
                          absl::Span<const std::string_view> names, const FieldDoc& doc) = 0;
  // A non-empty sequence of distinct non-empty strings, each passing doc.check.
  virtual void StringList(std::string_view key, std::vector<std::string>* values,
                          const FieldDoc& doc) = 0;
  // A mapping from versions (integers >= 1) to non-empty strings passing doc.check.
  virtual void VersionMap(std::string_view key, std::map<std::uint32_t, std::string>* values,
                          const FieldDoc& doc) = 0;
  // A nested mapping: when the key is present (or always, when describing), `body` is
  // called with this visitor positioned inside it. An empty value (`key:`) is an empty
  // mapping.
  virtual void Section(std::string_view key, const FieldDoc& doc,
                       absl::FunctionRef<void()> body) = 0;
  // A sequence of mappings: `element` is called once per element (once when describing)
  // and must append a fresh element and visit its keys.
  virtual void SectionList(std::string_view key, const FieldDoc& doc,
                           absl::FunctionRef<void()> element) = 0;
};

// Typed conveniences over the visitor's primitive methods.

template <typename Int>
void IntegerField(SchemaVisitor& v, std::string_view key, Int* value, std::int64_t min,
                  std::int64_t max, const FieldDoc& doc) {
  std::int64_t wide = static_cast<std::int64_t>(*value);
  v.Integer(key, &wide, min, max, doc);
  *value = static_cast<Int>(wide);
}

// `names[i]` is the name of the enumerator with value i.
template <typename Enum>
void EnumField(SchemaVisitor& v, std::string_view key, Enum* value,
               absl::Span<const std::string_view> names, const FieldDoc& doc) {
  std::size_t index = static_cast<std::size_t>(*value);
  v.Choice(key, &index, names, doc);
  *value = static_cast<Enum>(index);
}

template <typename Enum>
void EnumListField(SchemaVisitor& v, std::string_view key, std::vector<Enum>* values,
                   absl::Span<const std::string_view> names, const FieldDoc& doc) {
  std::vector<std::size_t> indices;
  for (Enum e : *values) indices.push_back(static_cast<std::size_t>(e));
  v.ChoiceList(key, &indices, names, doc);
  values->clear();
  for (std::size_t i : indices) values->push_back(static_cast<Enum>(i));
}

namespace schema_internal {
// Section bodies are either `void(SchemaVisitor&, T&)` (a named schema function) or
// `void(T&)` (a lambda that already holds the visitor).
template <typename T, typename Body>
void CallBody(SchemaVisitor& v, T& value, Body& body) {
  if constexpr (std::is_invocable_v<Body&, SchemaVisitor&, T&>) {
    body(v, value);
  } else {
    body(value);
  }
}
}  // namespace schema_internal

// A section whose presence matters: engaged (starting from `defaults`) only when the key is
// present.
template <typename T, typename Body>
void OptionalSection(SchemaVisitor& v, std::string_view key, std::optional<T>* value,
                     const T& defaults, const FieldDoc& doc, Body body) {
  v.Section(key, doc, [&] { schema_internal::CallBody(v, value->emplace(defaults), body); });
}

// A section whose keys all have defaults: an absent section is the same as an empty one.
template <typename T, typename Body>
void DefaultedSection(SchemaVisitor& v, std::string_view key, T* value, const FieldDoc& doc,
                      Body body) {
  v.Section(key, doc, [&] { schema_internal::CallBody(v, *value, body); });
}

template <typename T, typename Body>
void ListOfSections(SchemaVisitor& v, std::string_view key, std::vector<T>* values,
                    const FieldDoc& doc, Body body) {
  v.SectionList(key, doc, [&] { schema_internal::CallBody(v, values->emplace_back(), body); });
}

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SCHEMA_SCHEMA_H_
