// report_test_json.hpp: a strict little JSON parser for the report tests: rejects anything that
// is not valid JSON (so the tests prove the output parses) and keeps integers exact.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>
#include <cstdlib>

namespace jt {

struct Value {
    enum Type { Null, Bool, Number, String, Array, Object } type = Null;
    bool boolean = false;
    uint64_t num = 0;       // exact for non-negative integers
    double real = 0;
    std::string str;
    std::vector<Value> arr;
    std::map<std::string, Value> obj;

    const Value &operator[](const std::string &k) const
    {
        static const Value none;
        auto it = obj.find(k);
        return it == obj.end() ? none : it->second;
    }
    const Value &operator[](size_t i) const
    {
        static const Value none;
        return i < arr.size() ? arr[i] : none;
    }
    bool has(const std::string &k) const { return obj.count(k) != 0; }
};

class Parser {
    const std::string &s;
    size_t i = 0;
    [[noreturn]] void fail(const char *what) { throw std::runtime_error(std::string("bad JSON: ") + what + " at " + std::to_string(i)); }
    void ws() { while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++; }
    bool lit(const char *w)
    {
        size_t n = strlen(w);
        if (s.compare(i, n, w) != 0) return false;
        i += n;
        return true;
    }
    static void put_utf8(std::string &out, unsigned cp)
    {
        if (cp < 0x80) out += (char)cp;
        else if (cp < 0x800) { out += (char)(0xc0 | cp >> 6); out += (char)(0x80 | (cp & 0x3f)); }
        else { out += (char)(0xe0 | cp >> 12); out += (char)(0x80 | ((cp >> 6) & 0x3f)); out += (char)(0x80 | (cp & 0x3f)); }
    }
    std::string string()
    {
        if (s[i] != '"') fail("expected string");
        i++;
        std::string out;
        while (i < s.size() && s[i] != '"') {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20) fail("raw control character in string");
            if (c != '\\') { out += (char)c; i++; continue; }
            if (++i >= s.size()) fail("end in escape");
            char e = s[i++];
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
                if (i + 4 > s.size()) fail("short \\u");
                unsigned cp = (unsigned)std::stoul(s.substr(i, 4), nullptr, 16);
                i += 4;
                put_utf8(out, cp);
                break;
            }
            default: fail("bad escape");
            }
        }
        if (i >= s.size()) fail("unterminated string");
        i++;
        return out;
    }
    Value value()
    {
        ws();
        if (i >= s.size()) fail("unexpected end");
        Value v;
        char c = s[i];
        if (c == '{') {
            v.type = Value::Object;
            i++;
            ws();
            if (s[i] == '}') { i++; return v; }
            for (;;) {
                ws();
                std::string k = string();
                ws();
                if (s[i++] != ':') fail("expected :");
                if (v.obj.count(k)) fail("duplicate key");
                v.obj[k] = value();
                ws();
                if (s[i] == ',') { i++; continue; }
                if (s[i] == '}') { i++; return v; }
                fail("expected , or }");
            }
        }
        if (c == '[') {
            v.type = Value::Array;
            i++;
            ws();
            if (s[i] == ']') { i++; return v; }
            for (;;) {
                v.arr.push_back(value());
                ws();
                if (s[i] == ',') { i++; continue; }
                if (s[i] == ']') { i++; return v; }
                fail("expected , or ]");
            }
        }
        if (c == '"') { v.type = Value::String; v.str = string(); return v; }
        if (lit("true")) { v.type = Value::Bool; v.boolean = true; return v; }
        if (lit("false")) { v.type = Value::Bool; return v; }
        if (lit("null")) return v;
        size_t start = i;
        if (s[i] == '-') i++;
        while (i < s.size() && (isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) i++;
        if (start == i) fail("unexpected character");
        std::string t = s.substr(start, i - start);
        v.type = Value::Number;
        v.real = strtod(t.c_str(), nullptr);
        if (t.find_first_of(".eE-") == std::string::npos) v.num = strtoull(t.c_str(), nullptr, 10);
        return v;
    }

public:
    explicit Parser(const std::string &text) : s(text) {}
    Value parse()
    {
        Value v = value();
        ws();
        if (i != s.size()) fail("trailing text");
        return v;
    }
};

inline Value parse(const std::string &text) { return Parser(text).parse(); }

} // namespace jt
