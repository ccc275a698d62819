#pragma once
// A small JSON value for layer configs and the model file's metadata. Objects keep their insertion order (so a
// saved file is stable); parse() never trusts its input: depth, numbers and escapes are checked and any error
// throws std::invalid_argument naming the position.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nncore/tensor.hpp"

namespace nncore {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::boolean), bool_(b) {}
  Json(double d) : type_(Type::number), num_(d) {}
  Json(float f) : Json(static_cast<double>(f)) {}
  Json(int i) : Json(static_cast<double>(i)) {}
  Json(int64_t i) : Json(static_cast<double>(i)) {}
  Json(const char* s) : type_(Type::string), str_(s) {}
  Json(std::string s) : type_(Type::string), str_(std::move(s)) {}
  Json(const Shape& s);  // array of ints
  static Json array();
  static Json object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_object() const { return type_ == Type::object; }
  bool is_array() const { return type_ == Type::array; }

  // Typed reads; `what` names the value in the error when the type is wrong.
  bool as_bool(const std::string& what) const;
  double as_number(const std::string& what) const;
  int64_t as_int(const std::string& what) const;  // a number with an integral value in int64 range
  const std::string& as_string(const std::string& what) const;
  const std::vector<Json>& as_array(const std::string& what) const;
  Shape as_shape(const std::string& what) const;  // array of ints

  // Arrays.
  void push_back(Json v);
  size_t size() const;

  // Objects. operator[] inserts a null member when the key is missing (the value must be an object or null).
  Json& operator[](const std::string& key);
  const Json* find(const std::string& key) const;
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  const Json& at(const std::string& key, const std::string& what) const;  // throws naming `what` and the key
  const std::vector<std::pair<std::string, Json>>& items() const { return members_; }

  // Members with defaults: the member's value when present (type-checked), else `def`.
  bool get(const std::string& key, bool def) const;
  double get(const std::string& key, double def) const;
  float get(const std::string& key, float def) const { return static_cast<float>(get(key, static_cast<double>(def))); }
  int64_t get(const std::string& key, int64_t def) const;
  std::string get(const std::string& key, const std::string& def) const;
  std::string get(const std::string& key, const char* def) const { return get(key, std::string(def)); }

  std::string dump() const;
  // max_depth bounds nesting; the whole text must be one value (whitespace around it is allowed).
  static Json parse(const std::string& text, int max_depth = 64);

 private:
  friend class JsonParser;
  Type type_ = Type::null;
  bool bool_ = false;
  double num_ = 0.0;
  std::string str_;
  std::vector<Json> elems_;
  std::vector<std::pair<std::string, Json>> members_;
  void dump_to(std::string& out) const;
};

}  // namespace nncore
