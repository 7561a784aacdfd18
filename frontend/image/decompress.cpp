#include "frontend/image/decompress.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <string>
#include <string_view>
#include <vector>

#include "frontend/image/image_spec.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

bool GzipMagic(const unsigned char* p, std::size_t n) {
  return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}
bool ZstdMagic(const unsigned char* p, std::size_t n) {
  return n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd;
}

std::string IsalError(int code) {
  switch (code) {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
      return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "wrong CRC";
    default:
      return "inflate error " + std::to_string(code);
  }
}

class Gzip : public Decompressor {
 public:
  Gzip() : out_(kOutChunk) { Reset(); }

  void Feed(const unsigned char* data, std::size_t size, const Sink& sink) override {
    if (ignoring_) return;
    // A gzip magic split across two chunks: keep the first byte and prepend it.
    std::vector<unsigned char> joined;
    if (held_) {
      joined.reserve(size + 1);
      joined.push_back(0x1f);
      joined.insert(joined.end(), data, data + size);
      data = joined.data();
      size = joined.size();
      held_ = false;
    }
    state_.next_in = const_cast<unsigned char*>(data);
    state_.avail_in = static_cast<std::uint32_t>(size);
    while (state_.avail_in > 0 || state_.block_state == ISAL_BLOCK_FINISH) {
      if (state_.block_state == ISAL_BLOCK_FINISH) {
        if (state_.avail_in == 0) return;
        const unsigned char* rest = state_.next_in;
        const std::size_t left = state_.avail_in;
        if (left == 1 && rest[0] == 0x1f) {
          held_ = true;
          return;
        }
        if (!GzipMagic(rest, left)) {
          ignoring_ = true;
          return;
        }
        Reset();
        state_.next_in = const_cast<unsigned char*>(rest);
        state_.avail_in = static_cast<std::uint32_t>(left);
      }
      state_.next_out = out_.data();
      state_.avail_out = static_cast<std::uint32_t>(out_.size());
      const int rc = isal_inflate(&state_);
      if (rc < 0) throw DecompressError(IsalError(rc));
      const std::size_t produced = out_.size() - state_.avail_out;
      if (produced > 0) sink(out_.data(), produced);
      if (produced == 0 && state_.avail_in == 0 && state_.block_state != ISAL_BLOCK_FINISH) return;
    }
    // Input used up: output ISA-L still holds comes with the next call or Finish.
    Drain(sink);
  }

  void Finish() override {
    if (state_.block_state != ISAL_BLOCK_FINISH) throw DecompressError("truncated gzip stream");
  }

 private:
  void Reset() {
    isal_inflate_init(&state_);
    state_.crc_flag = ISAL_GZIP;
  }
  void Drain(const Sink& sink) {
    while (state_.block_state != ISAL_BLOCK_FINISH) {
      state_.next_out = out_.data();
      state_.avail_out = static_cast<std::uint32_t>(out_.size());
      const int rc = isal_inflate(&state_);
      if (rc < 0) throw DecompressError(IsalError(rc));
      const std::size_t produced = out_.size() - state_.avail_out;
      if (produced == 0) return;
      sink(out_.data(), produced);
    }
  }

  inflate_state state_{};
  std::vector<unsigned char> out_;
  bool held_ = false;
  bool ignoring_ = false;
};

class Zstd : public Decompressor {
 public:
  Zstd() : ctx_(ZSTD_createDStream()), out_(kOutChunk) {
    if (ctx_ == nullptr) throw Error("out of memory");
    // A window larger than 128 MiB would take that much memory: refused (zstd's default limit).
    (void)ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, 27);
  }
  ~Zstd() override { ZSTD_freeDStream(ctx_); }
  Zstd(const Zstd&) = delete;
  Zstd& operator=(const Zstd&) = delete;

  void Feed(const unsigned char* data, std::size_t size, const Sink& sink) override {
    if (ignoring_) return;
    std::vector<unsigned char> joined;
    if (!held_.empty()) {
      joined = held_;
      joined.insert(joined.end(), data, data + size);
      held_.clear();
      data = joined.data();
      size = joined.size();
    }
    ZSTD_inBuffer in{data, size, 0};
    while (in.pos < in.size) {
      if (frame_done_) {
        const unsigned char* rest = data + in.pos;
        const std::size_t left = in.size - in.pos;
        if (left < 4 && std::string_view(reinterpret_cast<const char*>(rest), left) ==
                            std::string_view("\x28\xb5\x2f\xfd", left)) {
          held_.assign(rest, rest + left);
          return;
        }
        if (!ZstdMagic(rest, left)) {
          ignoring_ = true;
          return;
        }
        frame_done_ = false;
      }
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      const std::size_t rc = ZSTD_decompressStream(ctx_, &out, &in);
      if (ZSTD_isError(rc)) throw DecompressError(ZSTD_getErrorName(rc));
      if (out.pos > 0) sink(out_.data(), out.pos);
      if (rc == 0) frame_done_ = true;
    }
    // Flush what the context still holds for the input given so far.
    while (!frame_done_) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      const std::size_t rc = ZSTD_decompressStream(ctx_, &out, &in);
      if (ZSTD_isError(rc)) throw DecompressError(ZSTD_getErrorName(rc));
      if (out.pos > 0) sink(out_.data(), out.pos);
      if (rc == 0) frame_done_ = true;
      if (out.pos < out.size) break;
    }
  }

  void Finish() override {
    if (!frame_done_) throw DecompressError("truncated zstd stream");
  }

 private:
  ZSTD_DStream* ctx_;
  std::vector<unsigned char> out_;
  std::vector<unsigned char> held_;
  bool frame_done_ = false;
  bool ignoring_ = false;
};

}  // namespace

std::unique_ptr<Decompressor> MakeDecompressor(Compression compression) {
  if (compression == Compression::kGzip) return std::make_unique<Gzip>();
  if (compression == Compression::kZstd) return std::make_unique<Zstd>();
  throw Error("no decompressor for an uncompressed stream");
}

}  // namespace grootfs::frontend::image
