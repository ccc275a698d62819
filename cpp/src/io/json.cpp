#include "nncore/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unordered_set>

#include "nncore/check.hpp"

namespace nncore {

namespace {

const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::null: return "null";
    case Json::Type::boolean: return "a boolean";
    case Json::Type::number: return "a number";
    case Json::Type::string: return "a string";
    case Json::Type::array: return "an array";
    case Json::Type::object: return "an object";
  }
  return "?";
}

[[noreturn]] void type_error(const std::string& what, const char* expected, Json::Type got) {
  throw std::invalid_argument(str_cat(what, ": expected ", expected, ", got ", type_name(got)));
}

// Numbers that are exactly a float are written in float's shortest round-trip form (configs hold floats, and
// 0.001f reads better than 0.0010000000474974513); other numbers in double's.
void dump_number(double d, std::string& out) {
  NNC_CHECK(std::isfinite(d), "JSON: cannot write the non-finite number ", d);
  char buf[40];
  if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
    out += buf;
    return;
  }
  const bool is_float = static_cast<double>(static_cast<float>(d)) == d;
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    const bool round_trips = is_float ? std::strtof(buf, nullptr) == static_cast<float>(d) : std::strtod(buf, nullptr) == d;
    if (round_trips) break;
  }
  out += buf;
}

void dump_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

class JsonParser {
 public:
  JsonParser(const std::string& text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Json parse_document() {
    Json v = value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;
  int max_depth_;

  [[noreturn]] void fail(const std::string& msg) const {
    throw std::invalid_argument(str_cat("JSON: ", msg, " at offset ", pos_));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  char peek() {
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end of text");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(str_cat("expected '", c, "'"));
    ++pos_;
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  Json value(int depth) {
    if (depth > max_depth_) fail(str_cat("nesting deeper than ", max_depth_));
    const char c = peek();
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Json(string());
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return Json(number());
    fail(printable(c) ? str_cat("unexpected character '", c, "'")
                      : str_cat("unexpected byte 0x", std::hex, static_cast<int>(static_cast<unsigned char>(c))));
  }

  Json object(int depth) {
    Json o = Json::object();
    std::unordered_set<std::string> keys;
    expect('{');
    if (peek() == '}') {
      ++pos_;
      return o;
    }
    for (;;) {
      if (peek() != '"') fail("expected a string key");
      std::string key = string();
      if (!keys.insert(key).second) fail(str_cat("duplicate key \"", key, "\""));
      expect(':');
      Json v = value(depth + 1);
      o.members_.emplace_back(std::move(key), std::move(v));
      const char c = peek();
      ++pos_;
      if (c == '}') return o;
      if (c != ',') fail("expected ',' or '}'");
    }
  }

  Json array(int depth) {
    Json a = Json::array();
    expect('[');
    if (peek() == ']') {
      ++pos_;
      return a;
    }
    for (;;) {
      a.push_back(value(depth + 1));
      const char c = peek();
      ++pos_;
      if (c == ']') return a;
      if (c != ',') fail("expected ',' or ']'");
    }
  }

  static bool printable(char c) { return c >= 0x20 && c < 0x7f; }

  // Length of the valid UTF-8 sequence starting at pos_ (its first byte >= 0x80), or 0.
  size_t utf8_length() const {
    const auto byte = [&](size_t i) { return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0u; };
    const unsigned b0 = byte(0);
    size_t n;
    unsigned cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) n = 2, cp = b0 & 0x1F;
    else if (b0 >= 0xE0 && b0 <= 0xEF) n = 3, cp = b0 & 0x0F;
    else if (b0 >= 0xF0 && b0 <= 0xF4) n = 4, cp = b0 & 0x07;
    else return 0;
    for (size_t i = 1; i < n; ++i) {
      const unsigned b = byte(i);
      if ((b & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (b & 0x3F);
    }
    const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
    return n;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  unsigned read_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(s_[pos_++]);
      if (h < 0) fail("bad \\u escape");
      v = v * 16 + static_cast<unsigned>(h);
    }
    return v;
  }
  static void utf8(unsigned cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_];
      if (static_cast<unsigned char>(c) >= 0x80) {
        const size_t n = utf8_length();
        if (n == 0) fail("invalid UTF-8 in string");
        out.append(s_, pos_, n);
        pos_ += n;
        continue;
      }
      ++pos_;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = read_hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("unpaired surrogate");
            pos_ += 2;
            const unsigned lo = read_hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate");
          }
          utf8(cp, out);
          break;
        }
        default: fail(printable(e) ? str_cat("bad escape '\\", e, "'") : std::string("bad escape"));
      }
    }
  }

  double number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t d0 = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d0;
    };
    if (s_[pos_] == '-') ++pos_;
    if (digits() == 0) fail("bad number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail("bad number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("bad number");
    }
    const std::string text = s_.substr(start, pos_ - start);
    const double d = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(d)) fail("number out of range");
    return d;
  }
};

Json::Json(const Shape& s) : type_(Type::array) {
  for (int64_t d : s) elems_.emplace_back(d);
}

Json Json::array() {
  Json j;
  j.type_ = Type::array;
  return j;
}

Json Json::object() {
  Json j;
  j.type_ = Type::object;
  return j;
}

bool Json::as_bool(const std::string& what) const {
  if (type_ != Type::boolean) type_error(what, "a boolean", type_);
  return bool_;
}

double Json::as_number(const std::string& what) const {
  if (type_ != Type::number) type_error(what, "a number", type_);
  return num_;
}

int64_t Json::as_int(const std::string& what) const {
  if (type_ != Type::number) type_error(what, "an integer", type_);
  NNC_CHECK(num_ == std::floor(num_) && std::fabs(num_) < 9.2e18, what, ": expected an integer, got ", num_);
  return static_cast<int64_t>(num_);
}

const std::string& Json::as_string(const std::string& what) const {
  if (type_ != Type::string) type_error(what, "a string", type_);
  return str_;
}

const std::vector<Json>& Json::as_array(const std::string& what) const {
  if (type_ != Type::array) type_error(what, "an array", type_);
  return elems_;
}

Shape Json::as_shape(const std::string& what) const {
  Shape s;
  for (const Json& e : as_array(what)) s.push_back(e.as_int(what));
  return s;
}

void Json::push_back(Json v) {
  if (type_ == Type::null) type_ = Type::array;
  if (type_ != Type::array) type_error("JSON push_back", "an array", type_);
  elems_.push_back(std::move(v));
}

size_t Json::size() const {
  if (type_ == Type::array) return elems_.size();
  if (type_ == Type::object) return members_.size();
  return 0;
}

Json& Json::operator[](const std::string& key) {
  if (type_ == Type::null) type_ = Type::object;
  if (type_ != Type::object) type_error(str_cat("JSON member \"", key, "\""), "an object", type_);
  for (auto& m : members_)
    if (m.first == key) return m.second;
  members_.emplace_back(key, Json());
  return members_.back().second;
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::object) return nullptr;
  for (const auto& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

const Json& Json::at(const std::string& key, const std::string& what) const {
  if (type_ != Type::object) type_error(what, "an object", type_);
  const Json* v = find(key);
  NNC_CHECK(v != nullptr, what, ": missing \"", key, "\"");
  return *v;
}

bool Json::get(const std::string& key, bool def) const {
  const Json* v = find(key);
  return v && !v->is_null() ? v->as_bool(str_cat("\"", key, "\"")) : def;
}

double Json::get(const std::string& key, double def) const {
  const Json* v = find(key);
  return v && !v->is_null() ? v->as_number(str_cat("\"", key, "\"")) : def;
}

int64_t Json::get(const std::string& key, int64_t def) const {
  const Json* v = find(key);
  return v && !v->is_null() ? v->as_int(str_cat("\"", key, "\"")) : def;
}

std::string Json::get(const std::string& key, const std::string& def) const {
  const Json* v = find(key);
  return v && !v->is_null() ? v->as_string(str_cat("\"", key, "\"")) : def;
}

void Json::dump_to(std::string& out) const {
  switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += bool_ ? "true" : "false"; break;
    case Type::number: dump_number(num_, out); break;
    case Type::string: dump_string(str_, out); break;
    case Type::array:
      out += '[';
      for (size_t i = 0; i < elems_.size(); ++i) {
        if (i) out += ", ";
        elems_[i].dump_to(out);
      }
      out += ']';
      break;
    case Type::object:
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i) out += ", ";
        dump_string(members_[i].first, out);
        out += ": ";
        members_[i].second.dump_to(out);
      }
      out += '}';
      break;
  }
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

Json Json::parse(const std::string& text, int max_depth) { return JsonParser(text, max_depth).parse_document(); }

}  // namespace nncore
