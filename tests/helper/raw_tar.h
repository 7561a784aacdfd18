// Writes tar headers byte by byte, for what libarchive's writer will not produce: pax records
// chosen by the test (hdrcharset, negative fractional times), GNU long names, raw name bytes.
#pragma once

#include <cstdio>
#include <cstring>
#include <string>

class RawTar {
 public:
  struct Entry {
    std::string name;
    char type = '0';
    std::string link;
    unsigned mode = 0644;
    unsigned uid = 0, gid = 0;
    long long mtime = 1000000;
    std::string data;
  };

  // One pax extended header ('x') for the entry that follows it.
  RawTar& Pax(const std::string& records) {
    return Add({"PaxHeaders/x", 'x', "", 0644, 0, 0, 0, records});
  }
  // "key=value" as one pax record, with its length prefix.
  static std::string Record(const std::string& kv) {
    std::size_t len = kv.size() + 3;
    while (std::to_string(len).size() + kv.size() + 2 != len) ++len;
    return std::to_string(len) + " " + kv + "\n";
  }
  // A GNU long name ('L') for the entry that follows it.
  RawTar& LongName(const std::string& name) {
    return Add({"././@LongLink", 'L', "", 0644, 0, 0, 0, name + std::string(1, '\0')});
  }
  RawTar& Add(const Entry& e) {
    char h[512] = {};
    std::memcpy(h, e.name.data(), std::min<std::size_t>(e.name.size(), 100));
    std::snprintf(h + 100, 8, "%07o", e.mode);
    std::snprintf(h + 108, 8, "%07o", e.uid);
    std::snprintf(h + 116, 8, "%07o", e.gid);
    std::snprintf(h + 124, 12, "%011zo", e.data.size());
    std::snprintf(h + 136, 12, "%011llo", e.mtime < 0 ? 0 : e.mtime);
    h[156] = e.type;
    std::memcpy(h + 157, e.link.data(), std::min<std::size_t>(e.link.size(), 100));
    std::memcpy(h + 257,
                e.type == 'L' ? "ustar  "
                              : "ustar\0"
                                "00",
                8);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out_.append(h, 512);
    out_ += e.data;
    out_.append((512 - e.data.size() % 512) % 512, '\0');
    return *this;
  }
  // The finished tar (two zero blocks at the end).
  std::string Take() { return out_ + std::string(1024, '\0'); }

 private:
  std::string out_;
};
